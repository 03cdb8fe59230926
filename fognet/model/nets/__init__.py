"""Code that makes the zoo's models; `fognet.model.zoo` is the only caller.

init        seeded, fan-in scaled parameter values, one random stream per tensor
layers      GraphBuilder: conv/bn/pool/gemm helpers that track shapes and make a checked model
light       onnx's shipped `light_*` graphs turned into normal models with seeded weights
classic     pilotnet, alexnet, vgg16, nin (plain conv stacks)
resnet      resnet18, resnet34 (BasicBlock)
mobilenet   mobilenetv2 (inverted residuals, depthwise convs)
yolo        yolov3-tiny (two detection heads)
"""
