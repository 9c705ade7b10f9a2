import pytest

from chiplab.units import UnitError, fmt_si, parse_quantity


@pytest.mark.parametrize("text,dim,expected", [
    ("1.41 GHz", "frequency", 1.41e9), ("700 MHz", "frequency", 7e8), ("40 MiB", "bytes", 40 * 2**20),
    ("64 kB", "bytes", 64e3), ("64 KiB", "bytes", 65536), ("0.3 pJ", "energy", 0.3e-12), ("1,555 GB/s".replace(",", ""), "bandwidth", 1.555e12),
    ("75 W", "power", 75.0), ("5 us", "time", 5e-6), ("64 bit/cycle", "bytes_per_cycle", 8.0), ("2e3 MHz", "frequency", 2e9),
])
def test_parse_quantity(text, dim, expected):
    assert parse_quantity(text, dim) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("value,dim,fragment", [
    (700, "frequency", "missing unit"), ("700", "frequency", "missing unit"), ("3 GB", "frequency", "unit of bytes"),
    ("fast", "frequency", "cannot read"), (None, "bytes", "expected a quantity"), (True, "bytes", "expected a quantity"),
])
def test_parse_quantity_errors_name_the_field(value, dim, fragment):
    with pytest.raises(UnitError) as e:
        parse_quantity(value, dim, field="arch.clock")
    msg = str(e.value)
    assert msg.startswith("arch.clock:") and fragment in msg and "\n" not in msg


def test_fmt_si():
    assert fmt_si(1.5e-3, "s") == "1.5 ms"
    assert fmt_si(2.3e12, "OP/s") == "2.3 TOP/s"
