"""Reference values of Sabeesh & Bolla (2022), Tables 2-5, as printed in the paper.

Printed abbreviations are kept as text ("6.14K", "1.06M", "0.5") because the paper truncates
to the digits it prints; ``astrotune.reporting.paper_tables`` compares our exact numbers at that precision.
"""

PAPER = "Sabeesh & Bolla (2022), Classification of astronomical bodies by efficient layer fine-tuning"

# The seven architectures, in the column order of Table 3.
ARCHITECTURES = ("ResNet50", "VGG16", "DenseNet121", "Xception", "EfficientNetB2", "MobileNetV2", "NASNetMobile")

# Table 2: architecture -> (layers, parameters).
TABLE2 = {
    "ResNet50": (176, 23_593_859),
    "Xception": (133, 20_867_627),
    "VGG16": (20, 14_716_227),
    "EfficientNetB2": (340, 7_772_796),
    "DenseNet121": (428, 7_040_579),
    "NASNetMobile": (770, 4_271_830),
    "MobileNetV2": (155, 2_260_546),
}

# Table 3: architecture -> ((trainable layers L, trainable parameters P as printed), ...), BM0 first.
TABLE3 = {
    "ResNet50": ((0, "6.1K"), (5, "1.06M"), (10, "3.42M"), (15, "5.52M"), (20, "7.88M"), (25, "8.94M"),
                 (30, "14.4M"), (35, "14.9M"), (40, "15.8M"), (45, "16.1M")),
    "VGG16": ((0, "1.5K"), (1, "1.5K"), (2, "1.5K"), (3, "2.36M"), (4, "4.72M"), (5, "7.08M"), (6, "7.08M"),
              (7, "9.44M"), (8, "11.8M"), (9, "12.9M"), (10, "12.9M"), (11, "13.5M"), (12, "14.1M"),
              (13, "14.4M")),
    "DenseNet121": ((0, "3.07K"), (5, "41.9K"), (10, "171K"), (15, "331K"), (20, "369K"), (25, "490K"),
                    (30, "642K"), (35, "686K"), (40, "830K"), (45, "939K")),
    "Xception": ((0, "6.14K"), (2, "6.14K"), (4, "3.16M"), (6, "3.17M"), (8, "4.75M"), (10, "4.75M"),
                 (12, "5.50M"), (14, "6.25M"), (16, "6.79M"), (18, "6.79M"), (20, "7.33M"), (22, "7.33M"),
                 (24, "7.87M"), (26, "8.40M")),
    "EfficientNetB2": ((0, "4.22K"), (3, "7.04K"), (6, "502K"), (9, "1.24M"), (12, "1.62M"), (15, "1.62M"),
                       (18, "1.64M"), (21, "2.83M"), (24, "2.96M"), (27, "2.96M"), (30, "2.97M"),
                       (33, "3.23M"), (36, "3.49M"), (39, "3.62M")),
    "MobileNetV2": ((0, "3.8K"), (1, "3.8K"), (3, "6.4K"), (5, "416K"), (7, "723K"), (10, "734K"),
                    (15, "1.04M"), (20, "1.05M"), (25, "1.36M"), (30, "1.52M")),
    "NASNetMobile": ((0, "3.1K"), (10, "3.5K"), (20, "137K"), (30, "174K"), (40, "343K"), (50, "715K"),
                     (60, "717K"), (70, "886K"), (80, "1.02M"), (90, "1.42M")),
}

# The per-architecture trainable-layer schedules (the L columns of Table 3; 82 steps in all).
SCHEDULES = {arch: [layers for layers, _ in steps] for arch, steps in TABLE3.items()}

# Table 4: baseline (0 trainable layers): architecture -> (trainable parameters as printed, accuracy).
TABLE4 = {
    "ResNet50": ("6.1K", 0.48),
    "VGG16": ("1.5K", 0.44),
    "DenseNet121": ("3K", 0.66),
    "Xception": ("6.1K", 0.835),
    "EfficientNetB2": ("4.2K", 0.80),
    "MobileNetV2": ("3.8K", 0.785),
    "NASNetMobile": ("3.1K", 0.80),
}

# Table 5: best model per architecture: (layers trained, parameters tuned, layer tuning ratio,
# parameter tuning ratio (both as printed, truncated), accuracy).
TABLE5 = {
    "DenseNet121": (10, 171_203, "0.02", "0.02", 0.955),
    "EfficientNetB2": (36, 3_498_479, "0.10", "0.45", 0.955),
    "Xception": (18, 6_794_531, "0.13", "0.32", 0.95),
    "ResNet50": (25, 8_945_667, "0.14", "0.37", 0.935),
    "VGG16": (10, 12_980_739, "0.5", "0.88", 0.94),
    "MobileNetV2": (5, 416_643, "0.03", "0.18", 0.90),
    "NASNetMobile": (60, 717_379, "0.07", "0.16", 0.88),
}
