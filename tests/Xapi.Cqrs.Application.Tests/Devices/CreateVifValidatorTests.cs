using Xapi.Cqrs.Application.Devices;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Tests.Pipeline;

namespace Xapi.Cqrs.Application.Tests.Devices;

public sealed class CreateVifValidatorTests
{
    private static readonly CreateVif.Command Valid = new(Guid.NewGuid(), Guid.NewGuid(), "0", null, null);

    private static Task Passes(CreateVif.Command c) => Validation.Passes(c, new CreateVif.Validator());

    private static Task<RequestValidationException> Fails(CreateVif.Command c, string code, params string[] parameters) =>
        Validation.Fails(c, new CreateVif.Validator(), code, parameters);

    [Fact]
    public Task Vif_without_mac_or_mtu_passes() => Passes(Valid);

    [Fact]
    public Task Missing_network_is_invalid_value() => Fails(Valid with { NetworkId = null }, "INVALID_VALUE", "network", "");

    [Theory]
    [InlineData("0")]
    [InlineData("7")]
    [InlineData("9999")]
    public Task Decimal_devices_pass(string device) => Passes(Valid with { Device = device });

    [Theory]
    [InlineData("a1")]
    [InlineData("eth0")]
    [InlineData("-1")]
    [InlineData("12345")]
    [InlineData(" 1")]
    public Task Device_that_is_not_a_small_decimal_is_invalid_device(string device) =>
        Fails(Valid with { Device = device }, "INVALID_DEVICE", device);

    [Fact]
    public Task Empty_device_is_invalid_device() => Fails(Valid with { Device = "" }, "INVALID_DEVICE", "");

    [Fact]
    public Task Missing_device_is_invalid_device() => Fails(Valid with { Device = null }, "INVALID_DEVICE", "");

    [Theory]
    [InlineData("00:16:3e:0a:0b:0c")]
    [InlineData("00:16:3E:0A:0B:0C")]
    [InlineData("00-16-3e-0a-0b-0c")]
    [InlineData("")]
    public Task Valid_or_absent_mac_passes(string mac) => Passes(Valid with { Mac = mac });

    [Theory]
    [InlineData("00:16:3e:zz:00:01")]
    [InlineData("00:16:3e:0a:0b")]
    [InlineData("00:16:3e:0a:0b:0c:0d")]
    [InlineData("00:16-3e:0a:0b:0c")]
    [InlineData("0016.3e0a.0b0c")]
    [InlineData("00163e0a0b0c")]
    public Task Malformed_mac_is_mac_invalid(string mac) => Fails(Valid with { Mac = mac }, "MAC_INVALID", mac);

    [Theory]
    [InlineData(67)]
    [InlineData(0)]
    [InlineData(65536)]
    public Task Mtu_out_of_range_is_invalid_value(long mtu) =>
        Fails(Valid with { Mtu = mtu }, "INVALID_VALUE", "MTU", mtu.ToString(System.Globalization.CultureInfo.InvariantCulture));

    [Theory]
    [InlineData(68)]
    [InlineData(1500)]
    [InlineData(65535)]
    public Task Mtu_in_range_passes(long mtu) => Passes(Valid with { Mtu = mtu });
}
