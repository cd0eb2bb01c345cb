from pruneviz.sensitivity import layer_sensitivity, most_sensitive


def test_sensitivity_prunes_each_layer_alone_and_leaves_it_dense(cnn_session):
    base = cnn_session.report().accuracy
    sens = layer_sensitivity(cnn_session, (0.0, 0.5, 0.95))
    assert list(sens) == cnn_session.layer_names
    assert all(row[0.0] == base for row in sens.values())
    assert all(row[0.95] <= row[0.5] + 0.02 for row in sens.values())
    assert cnn_session.layer_sparsity() == dict.fromkeys(cnn_session.layer_names, 0.0)
    worst = most_sensitive(sens, 0.95)
    assert sens[worst][0.95] == min(row[0.95] for row in sens.values())
