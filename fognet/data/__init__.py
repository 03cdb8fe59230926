"""Frame sources: the generated driving stream, datasets in their own layouts, videos.

    source    Frame, Labels, Box, FrameSource, to_model_input (Pillow resize + normalise)
    image     load_image / image_size / save_image: every image file, through Pillow
    files     Entry, ImageSource: frames from a reader's list of image files; rate
    driving   DrivingStream: seeded dash-cam frames with steering, speed, yaw and boxes
    folder    a folder of images (+ steering.csv from `fognet frames`)
    bdd100k   BDD100K images + detection labels JSON, and its videos
    kitti     KITTI raw image_02 with timestamps.txt and OXTS
    udacity   Udacity challenge interpolated.csv and simulator driving_log.csv
    video     VideoSource: video files through PyAV
    layouts   detect(path), open_source(path): the one entry point
    survey    what `fognet data inspect` reports: counts, sizes, labels, problems
    generate  write frames in each layout (`fognet data generate`, `fognet frames`)
"""
