"""Frame sources: the generated driving stream and image folders.

    source   Frame, FrameSource, FrameError, to_model_input (resize + normalise)
    driving  DrivingStream: seeded dash-cam frames with steering labels
    folder   ImageFolder: PNG/JPEG files of a folder in name order
    png      read_png / write_png with zlib and numpy only
"""
