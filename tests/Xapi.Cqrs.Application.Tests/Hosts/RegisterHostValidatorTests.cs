using Shouldly;
using Xapi.Cqrs.Application.Hosts;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Tests.Pipeline;

namespace Xapi.Cqrs.Application.Tests.Hosts;

public sealed class RegisterHostValidatorTests
{
    private const long GiB = 1L << 30;

    private static readonly RegisterHost.Command Valid = new("host1", "10.0.0.2", 16 * GiB, GiB, 8, true, [Guid.NewGuid()], [Guid.NewGuid()], "simulated");

    private static Task Passes(RegisterHost.Command c) => Validation.Passes(c, new RegisterHost.Validator());

    private static Task<RequestValidationException> Fails(RegisterHost.Command c, string code, params string[] parameters) =>
        Validation.Fails(c, new RegisterHost.Validator(), code, parameters);

    [Fact]
    public Task Host_passes() => Passes(Valid);

    [Fact]
    public Task Host_with_only_the_required_fields_passes() =>
        Passes(new RegisterHost.Command("h", null, GiB, null, 1, null, null, null, null));

    [Theory]
    [InlineData("in-process")]
    [InlineData("external")]
    public Task Known_agent_passes(string agent) => Passes(Valid with { Agent = agent });

    [Fact]
    public Task Unknown_agent_is_invalid_value() => Fails(Valid with { Agent = "remote" }, "INVALID_VALUE", "agent", "remote");

    [Fact]
    public Task Empty_name_is_invalid_value() => Fails(Valid with { NameLabel = "" }, "INVALID_VALUE", "name_label", "");

    [Fact]
    public Task Address_over_255_characters_is_invalid_value() =>
        Fails(Valid with { Address = new string('a', 256) }, "INVALID_VALUE", "address", new string('a', 64) + "…");

    [Fact]
    public Task Missing_memory_total_is_invalid_value() => Fails(Valid with { MemoryTotal = null, MemoryOverhead = null }, "INVALID_VALUE", "memory_total", "");

    [Fact]
    public Task Zero_memory_total_is_invalid_value() => Fails(Valid with { MemoryTotal = 0, MemoryOverhead = null }, "INVALID_VALUE", "memory_total", "0");

    [Fact]
    public Task Negative_memory_total_is_invalid_value() => Fails(Valid with { MemoryTotal = -1, MemoryOverhead = null }, "INVALID_VALUE", "memory_total", "-1");

    [Fact]
    public Task Negative_memory_overhead_is_invalid_value() => Fails(Valid with { MemoryOverhead = -1 }, "INVALID_VALUE", "memory_overhead", "-1");

    [Fact]
    public Task Memory_overhead_of_all_the_memory_is_invalid_value() =>
        Fails(Valid with { MemoryOverhead = 16 * GiB }, "INVALID_VALUE", "memory_overhead", (16 * GiB).ToString(System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public Task Missing_cpu_count_is_invalid_value() => Fails(Valid with { CpuCount = null }, "INVALID_VALUE", "cpu_count", "");

    [Theory]
    [InlineData(0)]
    [InlineData(-2)]
    [InlineData(4097)]
    public Task Cpu_count_out_of_range_is_invalid_value(int cpus) =>
        Fails(Valid with { CpuCount = cpus }, "INVALID_VALUE", "cpu_count", cpus.ToString(System.Globalization.CultureInfo.InvariantCulture));

    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    public Task Cpu_count_in_range_passes(int cpus) => Passes(Valid with { CpuCount = cpus });

    [Theory]
    [InlineData("vmware")]
    [InlineData("Simulated")]
    [InlineData("")]
    public Task Unknown_hypervisor_is_value_not_supported(string hypervisor) =>
        Fails(Valid with { Hypervisor = hypervisor }, "VALUE_NOT_SUPPORTED", "hypervisor", hypervisor, "one of simulated, qemu");

    [Theory]
    [InlineData("simulated")]
    [InlineData("qemu")]
    [InlineData(null)]
    public Task Known_or_default_hypervisor_passes(string? hypervisor) => Passes(Valid with { Hypervisor = hypervisor });

    [Fact]
    public async Task Duplicate_network_is_invalid_value_without_dotnet_type_names()
    {
        var network = Guid.NewGuid();
        var e = await Validation.FailsWith(Valid with { Networks = [network, network] }, new RegisterHost.Validator(), "INVALID_VALUE");
        e.Params[0].ShouldBe("networks");
        // The value a client sees must be the request's, not the name of a .NET array type ("System.Guid[]").
        e.Params[1].ShouldNotContain("System.");
    }

    [Fact]
    public async Task Duplicate_sr_is_invalid_value()
    {
        var sr = Guid.NewGuid();
        var e = await Validation.FailsWith(Valid with { Srs = [sr, sr] }, new RegisterHost.Validator(), "INVALID_VALUE");
        e.Params[0].ShouldBe("srs");
        e.Errors.Keys.ShouldContain("srs");
    }
}
