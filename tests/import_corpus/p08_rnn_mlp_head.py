# Follows huawenbo/ERSW-project, model_development/RNN.py (rewritten here, same layers and idioms).
# sizes: in_dim=12 hidden_dim=64 n_layer=2 hidden_mlp=32 n_classes=3 seq_len=40
import torch.nn as nn


class RNN(nn.Module):
    def __init__(self, in_dim, hidden_dim, n_layer, hidden_mlp, n_classes):
        super().__init__()
        self.n_layer = n_layer
        self.hidden_dim = hidden_dim
        self.rnn = nn.RNN(in_dim, hidden_dim, n_layer, batch_first=True)
        self.classifier = nn.Sequential(nn.Linear(hidden_dim, hidden_mlp), nn.Tanh(),
                                        nn.Linear(hidden_mlp, n_classes), nn.Sigmoid())

    def forward(self, x):
        out, h_n = self.rnn(x)
        x = h_n[-1, :, :]
        return self.classifier(x)
