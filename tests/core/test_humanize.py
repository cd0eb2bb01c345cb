from pruneviz.core import humanize as H


def test_counts_percent_points_and_sizes():
    assert H.count(950) == "950"
    assert H.count(1234) == "1.2 k"
    assert H.count(11_689_512) == "11.7 M"
    assert H.percent(0.8341) == "83.4%"
    assert H.points(-0.012) == "-1.2 pt"
    assert H.points(0.0) == "+0.0 pt"
    assert H.size(153_064) == "149.5 KiB"
    assert H.size(512) == "512 B"
    assert H.size(3 * 2**20) == "3.0 MiB"
