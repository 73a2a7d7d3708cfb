"""The embedded local cloud: moto server and provisioning, the AI emulator, local models, the Lambda runner."""
