"""Pure transforms: arrays and metadata in, arrays and metadata out, no file or network I/O."""
