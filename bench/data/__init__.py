"""Data sets held in memory as uint8 tensors, batch transforms and a seeded on-device loader."""
