using Shouldly;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Tests.Pipeline;
using Xapi.Cqrs.Application.Vms;

namespace Xapi.Cqrs.Application.Tests.Vms;

public sealed class CreateVmValidatorTests
{
    private const long GiB = 1L << 30;

    private static readonly CreateVm.Command Valid = new(
        "vm", 2, 2, GiB, GiB, GiB, GiB, "hvm", null, null, null, null, null, null, null, null, null, null, null, null);

    private static Task Passes(CreateVm.Command c) => Validation.Passes(c, new CreateVm.Validator());

    private static Task<RequestValidationException> Fails(CreateVm.Command c, string code, params string[] parameters) =>
        Validation.Fails(c, new CreateVm.Validator(), code, parameters);

    [Fact]
    public Task Vm_with_defaults_passes() => Passes(Valid);

    [Fact]
    public Task Vm_with_every_optional_field_passes() => Passes(Valid with
    {
        DomainType = "pv_in_pvh",
        HvmShadowMultiplier = 4.0,
        ActionsAfterCrash = "coredump_and_restart",
        Affinity = Guid.NewGuid(),
        IsATemplate = true,
        BlockedOperations = new() { ["start"] = "NOPE", ["clean_shutdown"] = "" },
        HaRestartPriority = "best-effort",
        OtherConfig = new() { ["k"] = "v" },
    });

    [Fact]
    public Task Empty_name_is_invalid_value() => Fails(Valid with { NameLabel = "" }, "INVALID_VALUE", "name_label", "");

    [Fact]
    public Task Missing_name_is_invalid_value() => Fails(Valid with { NameLabel = null }, "INVALID_VALUE", "name_label", "");

    [Fact]
    public Task Name_of_256_characters_is_invalid_value_showing_64() =>
        Fails(Valid with { NameLabel = new string('a', 256) }, "INVALID_VALUE", "name_label", new string('a', 64) + "…");

    [Fact]
    public Task Name_of_255_characters_passes() => Passes(Valid with { NameLabel = new string('a', 255) });

    [Fact]
    public Task Missing_vcpus_max_is_invalid_value() => Fails(Valid with { VcpusMax = null }, "INVALID_VALUE", "VCPUs_max", "");

    [Fact]
    public Task Zero_vcpus_max_is_invalid_value() => Fails(Valid with { VcpusMax = 0, VcpusAtStartup = 1 }, "INVALID_VALUE", "VCPUs_max", "0");

    [Fact]
    public Task Vcpus_max_over_4096_is_invalid_value() => Fails(Valid with { VcpusMax = 4097 }, "INVALID_VALUE", "VCPUs_max", "4097");

    [Fact]
    public Task Vcpus_max_of_4096_passes() => Passes(Valid with { VcpusMax = 4096 });

    [Fact]
    public Task Zero_vcpus_at_startup_is_invalid_value() => Fails(Valid with { VcpusAtStartup = 0 }, "INVALID_VALUE", "VCPUs-at-startup", "0");

    [Fact]
    public Task Missing_vcpus_at_startup_is_invalid_value() => Fails(Valid with { VcpusAtStartup = null }, "INVALID_VALUE", "VCPUs-at-startup", "");

    [Fact]
    public Task More_vcpus_at_startup_than_max_is_value_not_supported() =>
        Fails(Valid with { VcpusAtStartup = 4 }, "VALUE_NOT_SUPPORTED", "VCPUs-at-startup", "4", "value greater than VCPUs-max");

    [Fact]
    public Task Vcpus_at_startup_equal_to_max_passes() => Passes(Valid with { VcpusMax = 8, VcpusAtStartup = 8 });

    [Theory]
    [InlineData("static_min")]
    [InlineData("dynamic_min")]
    [InlineData("dynamic_max")]
    public Task Negative_memory_is_invalid_value(string field) => field switch
    {
        "static_min" => Fails(Valid with { MemoryStaticMin = -1 }, "INVALID_VALUE", "memory_static_min", "-1"),
        "dynamic_min" => Fails(Valid with { MemoryStaticMin = 0, MemoryDynamicMin = -1 }, "INVALID_VALUE", "memory_dynamic_min", "-1"),
        _ => Fails(Valid with { MemoryStaticMin = 0, MemoryDynamicMin = 0, MemoryDynamicMax = -1 }, "INVALID_VALUE", "memory_dynamic_max", "-1"),
    };

    [Fact]
    public Task Zero_static_max_is_invalid_value() =>
        Fails(Valid with { MemoryStaticMin = 0, MemoryDynamicMin = 0, MemoryDynamicMax = 0, MemoryStaticMax = 0 }, "INVALID_VALUE", "memory_static_max", "0");

    [Fact]
    public Task Missing_memory_is_invalid_value() => Fails(Valid with { MemoryDynamicMax = null }, "INVALID_VALUE", "memory_dynamic_max", "");

    [Theory]
    [InlineData(2, 1, 1, 2)] // static_min > dynamic_min
    [InlineData(1, 2, 1, 2)] // dynamic_min > dynamic_max
    [InlineData(1, 1, 2, 1)] // dynamic_max > static_max
    public Task Memory_out_of_order_is_memory_constraint_violation_order(long staticMin, long dynamicMin, long dynamicMax, long staticMax) =>
        Fails(Valid with { MemoryStaticMin = staticMin * GiB, MemoryDynamicMin = dynamicMin * GiB, MemoryDynamicMax = dynamicMax * GiB, MemoryStaticMax = staticMax * GiB },
            "MEMORY_CONSTRAINT_VIOLATION_ORDER");

    [Fact]
    public Task Memory_in_order_with_ballooning_range_passes() =>
        Passes(Valid with { MemoryStaticMin = GiB / 2, MemoryDynamicMin = GiB, MemoryDynamicMax = 2 * GiB, MemoryStaticMax = 4 * GiB });

    [Fact]
    public Task Unknown_domain_type_is_value_not_supported() =>
        Fails(Valid with { DomainType = "xen" }, "VALUE_NOT_SUPPORTED", "domain_type", "xen", "one of hvm, pv, pvh, pv_in_pvh");

    [Theory]
    [InlineData("hvm")]
    [InlineData("pv")]
    [InlineData("pvh")]
    [InlineData("pv_in_pvh")]
    [InlineData("unspecified")]
    [InlineData(null)]
    public Task Known_domain_types_pass(string? type) => Passes(Valid with { DomainType = type });

    [Fact]
    public Task Shadow_multiplier_below_one_is_invalid_value() =>
        Fails(Valid with { HvmShadowMultiplier = 0.5 }, "INVALID_VALUE", "HVM_shadow_multiplier", "0.5");

    [Fact]
    public Task Infinite_shadow_multiplier_is_invalid_value() =>
        Fails(Valid with { HvmShadowMultiplier = double.PositiveInfinity }, "INVALID_VALUE", "HVM_shadow_multiplier", "Infinity");

    [Fact]
    public Task Shadow_multiplier_of_one_passes() => Passes(Valid with { HvmShadowMultiplier = 1.0 });

    [Fact]
    public Task Unknown_actions_after_crash_is_value_not_supported() =>
        Fails(Valid with { ActionsAfterCrash = "explode" }, "VALUE_NOT_SUPPORTED",
            "actions_after_crash", "explode", "one of destroy, coredump_and_destroy, restart, coredump_and_restart, preserve, rename_restart");

    [Theory]
    [InlineData("destroy")]
    [InlineData("preserve")]
    [InlineData("rename_restart")]
    public Task Known_actions_after_crash_pass(string action) => Passes(Valid with { ActionsAfterCrash = action });

    [Fact]
    public Task Blocked_operation_that_is_not_a_vm_operation_is_value_not_supported() =>
        Fails(Valid with { BlockedOperations = new() { ["start"] = "", ["fly"] = "NOPE" } }, "VALUE_NOT_SUPPORTED", "blocked_operations", "fly", "not a VM operation");

    [Fact]
    public Task Unknown_ha_restart_priority_is_value_not_supported() =>
        Fails(Valid with { HaRestartPriority = "always" }, "VALUE_NOT_SUPPORTED", "ha_restart_priority", "always", "one of \"\", restart, best-effort");

    [Fact]
    public async Task Map_with_an_empty_key_is_invalid_value()
    {
        var e = await Validation.FailsWith(Valid with { OtherConfig = new() { [""] = "v" } }, new CreateVm.Validator(), "INVALID_VALUE");
        e.Params.Count.ShouldBe(2);
        e.Params[0].ShouldBe("map");
        e.Errors.Keys.ShouldContain(k => k.StartsWith("maps", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bad_map_is_shown_without_dotnet_type_names()
    {
        var e = await Validation.FailsWith(Valid with { Platform = new() { [new string('k', 300)] = "v" } }, new CreateVm.Validator(), "INVALID_VALUE");
        e.Params[0].ShouldBe("map");
        // The value a client sees must be the request's, not the name of a .NET collection type.
        e.Params[1].ShouldNotContain("System.");
        e.Params[1].ShouldNotContain("`");
    }

    [Fact]
    public async Task First_failing_rule_decides_the_code_and_every_failure_is_listed()
    {
        var e = await Fails(Valid with { NameLabel = "", VcpusMax = 0, MemoryStaticMin = -1 }, "INVALID_VALUE", "name_label", "");
        e.Errors.Keys.ShouldBe(["nameLabel", "vcpusMax", "memoryStaticMin"], ignoreOrder: true);
    }
}
