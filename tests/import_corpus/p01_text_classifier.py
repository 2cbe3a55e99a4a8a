# Follows Mianjaa/P1_text-classification, P1_text_classification/model/LSTMmodel.py (rewritten here, same layers and idioms).
# sizes: vocab_size=20000 embedding_dim=100 hidden_dim=256 output_dim=2 n_layers=2 seq_len=100
import torch.nn as nn


class LSTMModel(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_dim, output_dim, n_layers, dropout=0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=n_layers, dropout=dropout, batch_first=True)
        self.fc = nn.Linear(hidden_dim, output_dim)

    def forward(self, x):
        output, (hidden, cell) = self.lstm(self.embedding(x))
        return self.fc(output[:, -1, :])
