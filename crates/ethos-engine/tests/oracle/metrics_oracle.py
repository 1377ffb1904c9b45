"""Scores of filled VITAL files by independent implementations: SciPy and scikit-learn.

The figures `ethos score` prints must equal these (the oracle test compares them to 1e-12). The
computation follows the reference evaluation scripts: `jensenshannon` per record (0 where it
gives NaN for two equal distributions, see js_distance) and the plain mean; argmax by `list.index(max(...))`; value answers read by the spec's parser rule list
(answer_parser.py), coded A=0, B=1, C=2, unparsed=3, then `accuracy_score`,
`balanced_accuracy_score` and `f1_score(average="macro")`, and the same on the binary variant
(items whose gold or prediction is C dropped).

Records with a `pred_error` (their run failed) are left out and counted in `failed`. Scoring
failed records as the reference does (`ethos score --score-failed`): a record with a `pred_error`
or without a prediction is failed, and is scored with the uniform distribution over its options
(`pred_method` "failed_uniform") or as an unparsed answer; `failed_scored` counts them.

Usage: python metrics_oracle.py < paths.json > scores.json
  stdin:  a JSON array of file paths, or {"paths": [...], "score_failed": true}
  stdout: a JSON array, one object of figures per file
"""

import json
import math
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from answer_parser import parse  # noqa: E402
import numpy as np  # noqa: E402
from scipy.spatial.distance import jensenshannon  # noqa: E402
from scipy.special import rel_entr  # noqa: E402
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score  # noqa: E402

CODES = {"A": 0, "B": 1, "C": 2, None: 3}


def classification(gold, pred):
    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, average="macro")),
    }


def score_value(records):
    gold, pred = [], []
    for r in records:
        gold.append(CODES[r["label"]])
        # A failed record (filled with no output) is an unparsed answer.
        pred.append(3 if r["output"] is None else CODES[parse(r["output"])[1]])
    out = {"records": len(gold), "unparsed": pred.count(3)}
    out.update(classification(gold, pred))
    keep = [i for i in range(len(gold)) if gold[i] != 2 and pred[i] != 2]
    out["binary_records"] = len(keep)
    if keep:
        binary = classification([gold[i] for i in keep], [pred[i] for i in keep])
        for key, value in binary.items():
            out["binary_" + key] = value
    return out


def js_distance(gold, pred):
    """SciPy's jensenshannon, except where it returns NaN only because rounding made the
    divergence of two equal (after normalisation) distributions a tiny negative number, whose
    square root is NaN: the distance there is 0, which the project gives."""
    d = float(jensenshannon(gold, pred))
    if math.isnan(d):
        p = np.asarray(gold, dtype=float) / np.sum(gold)
        q = np.asarray(pred, dtype=float) / np.sum(pred)
        m = (p + q) / 2.0
        divergence = np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))
        assert -1e-15 < divergence <= 0.0, (gold, pred, divergence)
        d = 0.0
    return d


def score_distributions(records):
    distances, hits, methods = [], [], {}
    for r in records:
        gold, pred = r["gold_distribution"], r["pred_distribution"]
        distances.append(js_distance(gold, pred))
        hits.append(gold.index(max(gold)) == pred.index(max(pred)))
        method = r.get("pred_method") or "unknown"
        methods[method] = methods.get(method, 0) + 1
    return {
        "records": len(records),
        "mean_js": sum(distances) / len(distances),
        "most_likely": sum(hits) / len(hits),
        "pred_methods": methods,
        "mixed_methods": len(methods) > 1,
    }


def fill_failed(record):
    """A failed record as the reference scores it: uniform distribution / unparsed answer."""
    r = dict(record)
    if "pred_distribution" in r:
        n = len(r["gold_distribution"])
        r["pred_distribution"] = [1.0 / n] * n
        r["pred_method"] = "failed_uniform"
    else:
        r["output"] = None
    return r


def score_file(path, score_failed=False):
    with open(path) as f:
        records = json.load(f)
    prediction = "pred_distribution" if "gold_distribution" in records[0] else "output"
    if score_failed:
        failed = [r.get("pred_error") is not None or r.get(prediction) is None for r in records]
        kept = [fill_failed(r) if bad else r for r, bad in zip(records, failed)]
    else:
        kept = [r for r in records if r.get("pred_error") is None]
    if prediction == "pred_distribution":
        out = score_distributions(kept)
    else:
        out = score_value(kept)
    if score_failed:
        out["failed"] = sum(failed)
        if out["failed"]:
            out["failed_scored"] = out["failed"]
    else:
        out["failed"] = len(records) - len(kept)
    return out


def main():
    # scikit-learn warns when a label is only predicted (e.g. "unparsed"); that is expected.
    warnings.simplefilter("ignore")
    job = json.load(sys.stdin)
    if isinstance(job, dict):
        paths, score_failed = job["paths"], bool(job.get("score_failed"))
    else:
        paths, score_failed = job, False
    json.dump([score_file(p, score_failed) for p in paths], sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
