from dataclasses import replace

from pruneviz.views.charts import layer_overview


def test_the_layer_overview_makes_room_for_long_names_and_keeps_its_legend_off_them(cnn_session):
    """Regression (issue 31): on demo:gpt's 28 layers the axis title was clipped and the legend sat on
    the rotated layer names."""
    template = cnn_session.layers[0]
    names = [f"model.layers.{b}.self_attn.{p}_proj" for b in range(4) for p in "qkvo"]
    layers = [replace(template, name=n) for n in names]
    fig = layer_overview(layers, {})
    assert fig.layout.height >= 300 + 6 * max(map(len, names))
    assert fig.layout.legend.y >= 1 and fig.layout.legend.yanchor == "bottom"  # above the plot
    assert layer_overview(cnn_session.layers, {}).layout.height == 300  # four short names: as it was
