using Xapi.Cqrs.Application.Devices;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Tests.Pipeline;

namespace Xapi.Cqrs.Application.Tests.Devices;

public sealed class CreateVbdValidatorTests
{
    private static readonly CreateVbd.Command Valid = new(Guid.NewGuid(), Guid.NewGuid(), "0", "RW", "Disk", true, false, true);

    private static Task Passes(CreateVbd.Command c) => Validation.Passes(c, new CreateVbd.Validator());

    private static Task<RequestValidationException> Fails(CreateVbd.Command c, string code, params string[] parameters) =>
        Validation.Fails(c, new CreateVbd.Validator(), code, parameters);

    [Fact]
    public Task Read_write_disk_passes() => Passes(Valid);

    [Theory]
    [InlineData("0")]
    [InlineData("254")]
    [InlineData("xvda")]
    [InlineData("xvdaa")]
    [InlineData("hdd")]
    [InlineData("sdb")]
    [InlineData("autodetect")]
    public Task Valid_userdevices_pass(string userdevice) => Passes(Valid with { Userdevice = userdevice });

    [Theory]
    [InlineData("xyz")]
    [InlineData("hde")]
    [InlineData("xvd")]
    [InlineData("xvdA")]
    [InlineData("256")]
    [InlineData("-1")]
    [InlineData("1000")]
    public Task Userdevice_naming_no_position_is_invalid_device(string userdevice) =>
        Fails(Valid with { Userdevice = userdevice }, "INVALID_DEVICE", userdevice);

    [Fact]
    public Task Empty_userdevice_is_invalid_device() => Fails(Valid with { Userdevice = "" }, "INVALID_DEVICE", "");

    [Fact]
    public Task Missing_userdevice_is_invalid_device() => Fails(Valid with { Userdevice = null }, "INVALID_DEVICE", "");

    [Fact]
    public Task Unknown_mode_is_value_not_supported() => Fails(Valid with { Mode = "WO" }, "VALUE_NOT_SUPPORTED", "mode", "WO", "one of RO, RW");

    [Fact]
    public Task Lower_case_mode_is_value_not_supported() => Fails(Valid with { Mode = "rw" }, "VALUE_NOT_SUPPORTED", "mode", "rw", "one of RO, RW");

    [Fact]
    public Task Numeric_mode_is_value_not_supported() => Fails(Valid with { Mode = "7" }, "VALUE_NOT_SUPPORTED", "mode", "7", "one of RO, RW");

    [Fact]
    public Task Missing_mode_is_value_not_supported() => Fails(Valid with { Mode = null }, "VALUE_NOT_SUPPORTED", "mode", "", "one of RO, RW");

    [Fact]
    public Task Unknown_type_is_value_not_supported() => Fails(Valid with { Type = "Tape" }, "VALUE_NOT_SUPPORTED", "type", "Tape", "one of Disk, CD, Floppy");

    [Fact]
    public Task Read_only_floppy_passes() => Passes(Valid with { Type = "Floppy", Mode = "RO" });

    [Fact]
    public Task Read_write_cd_must_be_read_only() => Fails(Valid with { Type = "CD", Mode = "RW" }, "VBD_CDS_MUST_BE_READONLY");

    [Fact]
    public Task Read_only_cd_with_a_vdi_passes() => Passes(Valid with { Type = "CD", Mode = "RO", Userdevice = "3" });

    [Fact]
    public Task Empty_read_only_cd_without_vdi_passes() => Passes(Valid with { Type = "CD", Mode = "RO", Empty = true, VdiId = null });

    [Fact]
    public Task Empty_disk_is_not_removable_media() => Fails(Valid with { Empty = true, VdiId = null }, "VBD_NOT_REMOVABLE_MEDIA", "in constructor");

    [Fact]
    public Task Disk_without_vdi_is_invalid_value() => Fails(Valid with { VdiId = null }, "INVALID_VALUE", "VDI", "");

    [Fact]
    public Task Empty_cd_with_a_vdi_is_invalid_value()
    {
        var vdi = Guid.NewGuid();
        return Fails(Valid with { Type = "CD", Mode = "RO", Empty = true, VdiId = vdi }, "INVALID_VALUE", "VDI", vdi.ToString());
    }
}
