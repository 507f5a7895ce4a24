"""Learning what goes together: FashionNet's matching networks, trained with a rank loss.

Modules: ``nets`` (A, B, C in torch), ``train`` (rank loss, training loop, scorers),
``sampling`` (random and leak-matched negatives), ``metrics`` (the paper's NDCG figures),
``datasets`` / ``features`` / ``data`` (outfit datasets, cached crop features, item tables),
``stages`` (stage one and two), ``evaluate`` (``stylist eval``), ``personal`` (the app's personal
retraining), ``io`` (nets as plain arrays). Importing this package imports neither torch nor
onnxruntime; the functions that need them import them.
"""
