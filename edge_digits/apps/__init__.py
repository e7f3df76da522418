"""Front ends: the `edge-digits` command line, the camera demo and their shared argument types.

Thin layers over the library: each subcommand imports the module it runs only when called.
"""
