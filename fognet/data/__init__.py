"""Frame sources: the generated driving stream and image folders."""
