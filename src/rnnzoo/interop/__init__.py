"""Weight conversions between rnnzoo layers and torch.nn / Keras layers."""
