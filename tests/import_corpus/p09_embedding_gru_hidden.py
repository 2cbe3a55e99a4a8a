# Follows virgantara/Deep-Learning-Course, courses/week05/model.py (rewritten here, same layers and idioms).
# sizes: vocab_size=5000 embed_dim=64 hidden_dim=128 num_classes=4 seq_len=30
import torch.nn as nn


class RNNClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, num_classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = nn.GRU(embed_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, num_classes)

    def forward(self, x):
        x = self.embedding(x)
        output, hidden = self.rnn(x)
        return self.fc(hidden[-1])
