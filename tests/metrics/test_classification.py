"""Classification metrics of keras_mia.metrics against scikit-learn (both Keras backends)."""

import keras
import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    multilabel_confusion_matrix,
    precision_score,
    recall_score,
    roc_auc_score,
)

from keras_mia.metrics import BinaryAUC, MulticlassAUC, Precision, Sensitivity, Specificity

CONFUSION_METRICS = (Sensitivity, Specificity, Precision)


def _result(metric):
    return float(keras.ops.convert_to_numpy(metric.result()))


def _update_in_batches(metric, y_true, y_pred, sample_weight=None, batch=128):
    """Feeds the data in several batches: the metric must accumulate, not overwrite."""
    for start in range(0, len(y_true), batch):
        part = slice(start, start + batch)
        weight = None if sample_weight is None else sample_weight[part]
        metric.update_state(y_true[part], y_pred[part], sample_weight=weight)
    return _result(metric)


def _binary_data(rng, n=300):
    y = (rng.uniform(size=n) < 0.4).astype("float32")
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 1e-4, 1 - 1e-4).astype("float32")
    return y, p


def _multiclass_data(rng, n=300, k=4):
    labels = rng.integers(0, k, n)
    logits = (rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels]).astype("float32")
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, logits, probs.astype("float32")


def _sklearn_binary(y, predicted, sample_weight=None):
    return {
        Sensitivity: recall_score(y, predicted, sample_weight=sample_weight),
        Specificity: recall_score(y, predicted, pos_label=0, sample_weight=sample_weight),
        Precision: precision_score(y, predicted, sample_weight=sample_weight),
    }


@pytest.mark.parametrize("threshold", [None, 0.3, 0.6])
def test_binary_metrics_match_sklearn(rng, threshold):
    y, p = _binary_data(rng)
    predicted = p >= (0.5 if threshold is None else threshold)
    expected = _sklearn_binary(y, predicted)
    for cls in CONFUSION_METRICS:
        # Column vectors, as a sigmoid head and Keras' label handling give them.
        value = _update_in_batches(cls(threshold=threshold), y[:, None], p[:, None])
        assert value == pytest.approx(expected[cls], abs=1e-6), cls.__name__
        # Flat vectors and logits give the same answer.
        logits = np.log(p / (1 - p))
        value = _update_in_batches(cls(threshold=threshold, from_logits=True), y, logits)
        assert value == pytest.approx(expected[cls], abs=1e-6), cls.__name__


def test_binary_metrics_with_sample_weights_match_sklearn(rng):
    y, p = _binary_data(rng)
    weights = rng.uniform(0, 2, size=len(y)).astype("float32")
    expected = _sklearn_binary(y, p >= 0.5, sample_weight=weights)
    for cls in CONFUSION_METRICS:
        value = _update_in_batches(cls(), y, p[:, None], sample_weight=weights)
        assert value == pytest.approx(expected[cls], rel=1e-5), cls.__name__


def test_hand_computed_counts():
    # TP = 2, FN = 1, TN = 3, FP = 2.
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0], "float32")
    p = np.array([0.9, 0.6, 0.2, 0.1, 0.4, 0.3, 0.7, 0.8], "float32")
    for cls, expected in [(Sensitivity, 2 / 3), (Specificity, 3 / 5), (Precision, 2 / 4)]:
        metric = cls()
        metric.update_state(y, p)
        assert _result(metric) == pytest.approx(expected), cls.__name__


def test_two_softmax_columns_score_class_one(rng):
    y, p = _binary_data(rng)
    probs = np.stack([1 - p, p], axis=1)
    expected = _sklearn_binary(y, p >= 0.5)
    for cls in CONFUSION_METRICS:
        value = _update_in_batches(cls(), y.astype("int32"), probs)
        assert value == pytest.approx(expected[cls], abs=1e-6), cls.__name__
    # A threshold applies to the positive column instead of the argmax.
    expected = _sklearn_binary(y, p >= 0.7)
    value = _update_in_batches(Sensitivity(threshold=0.7), y, probs)
    assert value == pytest.approx(expected[Sensitivity], abs=1e-6)


@pytest.mark.parametrize("positive_class", [0, 2])
def test_multiclass_one_vs_rest_matches_sklearn(rng, positive_class):
    labels, logits, probs = _multiclass_data(rng)
    actual = labels == positive_class
    predicted = probs.argmax(axis=1) == positive_class
    expected = _sklearn_binary(actual, predicted)
    for cls in CONFUSION_METRICS:
        value = _update_in_batches(cls(positive_class=positive_class), labels, probs)
        assert value == pytest.approx(expected[cls], abs=1e-6), cls.__name__
        value = _update_in_batches(
            cls(positive_class=positive_class, from_logits=True), labels[:, None], logits
        )
        assert value == pytest.approx(expected[cls], abs=1e-6), cls.__name__


def test_multiclass_macro_average_matches_sklearn(rng):
    k = 4
    labels, _, probs = _multiclass_data(rng, k=k)
    predicted = probs.argmax(axis=1)
    confusion = multilabel_confusion_matrix(labels, predicted, labels=list(range(k)))
    tn, fp = confusion[:, 0, 0], confusion[:, 0, 1]
    expected = {
        Sensitivity: recall_score(labels, predicted, average="macro"),
        Specificity: np.mean(tn / (tn + fp)),
        Precision: precision_score(labels, predicted, average="macro"),
    }
    one_hot = np.eye(k, dtype="float32")[labels]
    for cls in CONFUSION_METRICS:
        value = _update_in_batches(cls(num_classes=k), labels, probs)
        assert value == pytest.approx(expected[cls], abs=1e-6), cls.__name__
        value = _update_in_batches(cls(num_classes=k), one_hot, probs)
        assert value == pytest.approx(expected[cls], abs=1e-6), cls.__name__


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="threshold=1.5"):
        Sensitivity(threshold=1.5)
    with pytest.raises(ValueError, match="positive_class"):
        Precision(num_classes=3, positive_class=1)
    with pytest.raises(ValueError, match="num_classes=1"):
        Specificity(num_classes=1)
    probs = np.full((2, 3), 1 / 3, "float32")
    with pytest.raises(ValueError, match="positive_class=None"):
        Sensitivity().update_state(np.array([0, 1]), probs)
    with pytest.raises(ValueError, match="positive_class=3"):
        Sensitivity(positive_class=3).update_state(np.array([0, 1]), probs)
    with pytest.raises(ValueError, match="3 prediction columns"):
        Sensitivity(num_classes=3).update_state(np.array([0, 1]), probs[:, :2])
    with pytest.raises(ValueError, match="num_classes=1"):
        MulticlassAUC(num_classes=1)
    with pytest.raises(ValueError, match="4 prediction columns"):
        MulticlassAUC(num_classes=4).update_state(np.array([0, 1]), probs)


@pytest.mark.parametrize("num_thresholds, tolerance", [(200, 2e-3), (1000, 5e-4)])
def test_binary_auc_matches_sklearn(rng, num_thresholds, tolerance):
    y, p = _binary_data(rng)
    expected = roc_auc_score(y, p)
    metric = BinaryAUC(num_thresholds=num_thresholds)
    assert _update_in_batches(metric, y[:, None], p[:, None]) == pytest.approx(
        expected, abs=tolerance
    )
    # The positive column of a 2-class softmax, and logits, give the same curve.
    probs = np.stack([1 - p, p], axis=1)
    metric = BinaryAUC(num_thresholds=num_thresholds)
    assert _update_in_batches(metric, y.astype("int32"), probs) == pytest.approx(
        expected, abs=tolerance
    )
    metric = BinaryAUC(num_thresholds=num_thresholds, from_logits=True)
    logits = np.log(p / (1 - p))
    assert _update_in_batches(metric, y, logits) == pytest.approx(expected, abs=tolerance)


def test_binary_auc_of_one_class_vs_rest_and_pr_curve(rng):
    labels, _, probs = _multiclass_data(rng)
    metric = BinaryAUC(positive_class=2, num_thresholds=1000)
    value = _update_in_batches(metric, labels, probs)
    assert value == pytest.approx(roc_auc_score(labels == 2, probs[:, 2]), abs=1e-3)
    y, p = _binary_data(rng)
    # Keras interpolates the PR curve (Davis & Goadrich); sklearn's average precision is a
    # step sum, so they agree only closely.
    metric = BinaryAUC(curve="PR", num_thresholds=1000)
    value = _update_in_batches(metric, y, p)
    assert value == pytest.approx(average_precision_score(y, p), abs=0.01)
    assert value != pytest.approx(roc_auc_score(y, p), abs=0.01)


def test_multiclass_auc_matches_sklearn_macro_one_vs_rest(rng):
    k = 4
    labels, logits, probs = _multiclass_data(rng, k=k)
    expected = roc_auc_score(labels, probs, multi_class="ovr", average="macro")
    assert _update_in_batches(MulticlassAUC(k), labels, probs) == pytest.approx(
        expected, abs=2e-3
    )
    one_hot = np.eye(k, dtype="float32")[labels]
    metric = MulticlassAUC(k, from_logits=True, num_thresholds=1000)
    assert _update_in_batches(metric, one_hot, logits) == pytest.approx(expected, abs=5e-4)


def _all_metrics():
    return [
        Sensitivity(threshold=0.4, name="sens"),
        Specificity(positive_class=1, from_logits=True),
        Precision(num_classes=2),
        BinaryAUC(positive_class=1, num_thresholds=50, name="auc_1"),
        BinaryAUC(curve="PR", name="pr_auc"),
        MulticlassAUC(2, from_logits=True),
    ]


def test_reset_state_forgets_earlier_batches(rng):
    first_labels, _, first = _multiclass_data(rng, k=2)
    second_labels, _, second = _multiclass_data(rng, k=2)
    for metric, fresh in zip(_all_metrics(), _all_metrics()):
        metric.update_state(first_labels, first)
        metric.reset_state()
        for variable in metric.variables:
            assert not np.any(keras.ops.convert_to_numpy(variable)), metric.name
        metric.update_state(second_labels, second)
        fresh.update_state(second_labels, second)
        assert _result(metric) == pytest.approx(_result(fresh)), metric.name


def test_get_config_round_trip(rng):
    labels, _, probs = _multiclass_data(rng, k=2)
    for metric in _all_metrics():
        config = metric.get_config()
        again = type(metric).from_config(config)
        assert again.get_config() == config, metric.name
        restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
        assert type(restored) is type(metric) and restored.get_config() == config
        metric.update_state(labels, probs)
        restored.update_state(labels, probs)
        assert _result(restored) == pytest.approx(_result(metric)), metric.name


def test_usable_in_compile_fit_and_evaluate_of_a_binary_model(rng, tmp_path):
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=96) > 0).astype("float32")[:, None]
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="binary_crossentropy",
        metrics=[Sensitivity(), Specificity(), Precision(), BinaryAUC(num_thresholds=1000)],
    )
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert {"sensitivity", "specificity", "precision", "auc"} <= set(history.history)
    logs = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    p = model.predict(x, batch_size=32, verbose=0)[:, 0]
    expected = _sklearn_binary(y[:, 0], p >= 0.5)
    assert logs["sensitivity"] == pytest.approx(expected[Sensitivity], abs=1e-6)
    assert logs["specificity"] == pytest.approx(expected[Specificity], abs=1e-6)
    assert logs["precision"] == pytest.approx(expected[Precision], abs=1e-6)
    assert logs["auc"] == pytest.approx(roc_auc_score(y[:, 0], p), abs=2e-3)
    # The registered classes let a compiled model come back from a .keras file.
    model.save(tmp_path / "binary.keras")
    reloaded = keras.saving.load_model(tmp_path / "binary.keras")
    again = reloaded.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    for name in ("sensitivity", "specificity", "precision", "auc"):
        assert again[name] == pytest.approx(logs[name], abs=1e-6), name


def test_usable_in_compile_and_fit_of_a_multiclass_softmax_model(rng):
    k = 3
    x = rng.normal(size=(90, 5)).astype("float32")
    labels = np.argmax(x[:, :k] + 0.3 * rng.normal(size=(90, k)), axis=1)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(k, activation="softmax")(inputs))
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="sparse_categorical_crossentropy",
        metrics=[
            Sensitivity(num_classes=k, name="macro_sensitivity"),
            Precision(positive_class=2, name="precision_2"),
            MulticlassAUC(k, num_thresholds=1000),
        ],
    )
    model.fit(x, labels, batch_size=30, epochs=2, verbose=0)
    logs = model.evaluate(x, labels, batch_size=30, verbose=0, return_dict=True)
    probs = model.predict(x, batch_size=30, verbose=0)
    predicted = probs.argmax(axis=1)
    assert logs["macro_sensitivity"] == pytest.approx(
        recall_score(labels, predicted, average="macro"), abs=1e-6
    )
    assert logs["precision_2"] == pytest.approx(
        precision_score(labels == 2, predicted == 2), abs=1e-6
    )
    assert logs["multiclass_auc"] == pytest.approx(
        roc_auc_score(labels, probs, multi_class="ovr"), abs=2e-3
    )
