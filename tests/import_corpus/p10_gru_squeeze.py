# Follows universome/text-style-transfer, src/models/rnn_classifier.py (rewritten here, same layers and idioms).
# sizes: size=256 seq_len=20
import torch.nn as nn


class RNNClassifier(nn.Module):
    def __init__(self, size, output_dim=1):
        super().__init__()
        self.gru = nn.GRU(size, size, batch_first=True)
        self.classifier = nn.Linear(size, output_dim)

    def forward(self, x):
        _, last_hidden_state = self.gru(x)
        state = last_hidden_state.squeeze(0)
        return self.classifier(state)
