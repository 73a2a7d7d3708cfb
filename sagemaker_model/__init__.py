"""The SageMaker model: its inference handler (code/) and the build of model.tar.gz."""
