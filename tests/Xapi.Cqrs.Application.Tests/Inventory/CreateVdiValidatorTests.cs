using Xapi.Cqrs.Application.Inventory;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Tests.Pipeline;

namespace Xapi.Cqrs.Application.Tests.Inventory;

public sealed class CreateVdiValidatorTests
{
    private const long GiB = 1L << 30;

    private static readonly CreateVdi.Command Valid = new(Guid.NewGuid(), "disk", 10 * GiB, false, false);

    private static Task Passes(CreateVdi.Command c) => Validation.Passes(c, new CreateVdi.Validator());

    private static Task<RequestValidationException> Fails(CreateVdi.Command c, string code, params string[] parameters) =>
        Validation.Fails(c, new CreateVdi.Validator(), code, parameters);

    [Fact]
    public Task Vdi_passes() => Passes(Valid);

    [Fact]
    public Task Vdi_of_one_byte_passes() => Passes(Valid with { VirtualSize = 1 });

    [Fact]
    public Task Negative_virtual_size_is_invalid_value() => Fails(Valid with { VirtualSize = -1 }, "INVALID_VALUE", "virtual_size", "-1");

    [Fact]
    public Task Zero_virtual_size_is_invalid_value() => Fails(Valid with { VirtualSize = 0 }, "INVALID_VALUE", "virtual_size", "0");

    [Fact]
    public Task Missing_virtual_size_is_invalid_value() => Fails(Valid with { VirtualSize = null }, "INVALID_VALUE", "virtual_size", "");

    [Fact]
    public Task Missing_sr_is_invalid_value() => Fails(Valid with { SrId = null }, "INVALID_VALUE", "SR", "");

    [Fact]
    public Task Empty_name_is_invalid_value() => Fails(Valid with { NameLabel = "" }, "INVALID_VALUE", "name_label", "");
}
