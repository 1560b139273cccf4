#!/usr/bin/env python3
"""The churn models' anchor: scikit-learn's logistic regression on the same
feature table, the same columns and the same split as a ratewire model.

    ratewire churn train --features team.csv --label churn --model model.json --split-out split.csv
    python bench/churn_anchor.py --features team.csv --model model.json --split split.csv

or, for the ledger's features (the split is the time split):

    ratewire churn features --ledger L --accounts A --from D1 --to D2 --output features.csv
    ratewire churn train --ledger L --accounts A --from D1 --to D2 --model model.json --split-out split.csv
    python bench/churn_anchor.py --features features.csv --model model.json --split split.csv

It reads which columns are numeric and which categorical from the model
file, encodes them the way ratewire does (median fill plus a missing
indicator, one-hot with missing as a level, everything standardised),
fits `LogisticRegression(C=1)` on the train rows and prints the ROC AUC of
both on the test rows. Exits 1 if ratewire's is worse by more than
`--tolerance`.
"""

import argparse
import csv
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}
TRUE = {"1", "1.0", "true", "t", "yes", "y"}


def number(text):
    if text.strip().lower() in MISSING:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def encode(rows, features, train_rows):
    """The matrix of every row, as ratewire's Schema::encode builds it."""
    columns = []
    for feature in features:
        name = feature["column"]
        if feature["kind"] == "numeric":
            values = [number(r[name]) for r in rows]
            train_values = [values[i] for i in train_rows if values[i] is not None]
            fill = float(np.median(train_values)) if train_values else 0.0
            columns.append([fill if v is None else v for v in values])
            if feature["missing_indicator"]:
                columns.append([1.0 if v is None else 0.0 for v in values])
        else:
            levels = feature["levels"]
            for level in levels:
                def level_of(text):
                    return "(missing)" if text.strip().lower() in MISSING else text.strip()
                hit = [level_of(r[name]) == level for r in rows]
                if level == "other":
                    known = set(levels)
                    hit = [h or level_of(r[name]) not in known for h, r in zip(hit, rows)]
                columns.append([1.0 if h else 0.0 for h in hit])
    return np.array(columns, dtype=float).T


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", required=True, help="the feature table (CSV)")
    parser.add_argument("--model", required=True, help="ratewire's model file")
    parser.add_argument("--split", required=True, help="`churn train --split-out`'s file")
    parser.add_argument("--tolerance", type=float, default=0.01)
    args = parser.parse_args()

    with open(args.model) as f:
        model = json.load(f)
    with open(args.features, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(args.split, newline="") as f:
        parts = [r["part"] for r in csv.DictReader(f)]
    if len(parts) != len(rows):
        sys.exit(f"{args.split} has {len(parts)} rows, {args.features} has {len(rows)}")
    label = model["schema"]["label"]
    y = np.array([r[label].strip().lower() in TRUE for r in rows])
    train = [i for i, p in enumerate(parts) if p == "train"]
    test = [i for i, p in enumerate(parts) if p == "test"]
    x = encode(rows, model["schema"]["features"], train)
    scaler = StandardScaler().fit(x[train])
    sk = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x[train]), y[train])
    sk_auc = roc_auc_score(y[test], sk.predict_proba(scaler.transform(x[test]))[:, 1])
    ours = model["test"]["roc_auc"]
    ours_logistic = model["test_roc_auc"]["logistic"]
    print(f"rows train {len(train)} test {len(test)}, churners in test {int(y[test].sum())}")
    print(f"scikit-learn logistic regression ROC AUC {sk_auc:.4f}")
    print(f"ratewire logistic regression ROC AUC     {ours_logistic:.4f}")
    print(f"ratewire chosen model ({model['model']['kind']}) ROC AUC   {ours:.4f}")
    if ours < sk_auc - args.tolerance:
        print("ratewire is worse than scikit-learn by more than the tolerance")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
