using Shouldly;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;

namespace Xapi.Cqrs.Domain.Tests.Placement;

// §4.3; §11 rules 12 and 15: every check with its code and parameters.
public class HostChecksTests
{
    private static PlacementRequest Request(Vm vm, Guid[]? srs = null, Guid[]? networks = null) => new(vm, srs ?? [], networks ?? []);

    private static XapiException? Boot(Vm vm, Hosts.Host? host = null) => HostChecks.CanBootHere(Request(vm), host ?? A.Host());

    [Fact]
    public void Ordinary_vm_can_boot_on_an_ordinary_host()
    {
        Boot(A.Vm()).ShouldBeNull();
        HostChecks.VmCanRunOnHost(Request(A.Vm()), A.Host()).ShouldBeNull();
    }

    [Fact]
    public void Zero_vcpus_max_fails_with_invalid_value()
    {
        Boot(A.Vm(vcpusMax: 0, vcpusAtStartup: 1)).ShouldBeError(ErrorCodes.InvalidValue, "VCPUs_max", "0");
    }

    [Fact]
    public void Zero_vcpus_at_startup_fails_with_invalid_value()
    {
        Boot(A.Vm(vcpusMax: 2, vcpusAtStartup: 0)).ShouldBeError(ErrorCodes.InvalidValue, "VCPUs-at-startup", "0");
    }

    [Fact]
    public void More_vcpus_at_startup_than_max_fails_with_value_not_supported()
    {
        Boot(A.Vm(vcpusMax: 2, vcpusAtStartup: 4))
            .ShouldBeError(ErrorCodes.ValueNotSupported, "VCPUs-at-startup", "4", "value greater than VCPUs-max");
    }

    [Fact]
    public void Uncoercible_memory_constraints_fail_with_memory_constraint_violation()
    {
        Boot(A.Vm(staticMin: 2.GiB(), staticMax: 1.GiB(), dynamicMin: 1.GiB(), dynamicMax: 1.GiB()))
            .ShouldBeError(ErrorCodes.MemoryConstraintViolation);
        Boot(A.Vm(dynamicMin: 2.GiB(), dynamicMax: 1.GiB(), staticMax: 4.GiB()))
            .ShouldBeError(ErrorCodes.MemoryConstraintViolation);
        // coercible (dynamic range outside the static one) is accepted at start
        Boot(A.Vm(staticMin: 1.GiB(), dynamicMin: 512.MiB(), dynamicMax: 8.GiB(), staticMax: 4.GiB())).ShouldBeNull();
    }

    [Theory]
    [InlineData(0.5, "0.5")]
    [InlineData(0.0, "0.")]
    [InlineData(0.1, "0.1")]
    [InlineData(-1.0, "-1.")]
    [InlineData(0.00001, "1e-05")]
    public void Shadow_multiplier_below_one_fails_with_invalid_value_printed_as_ocaml_does(double multiplier, string printed)
    {
        Boot(A.Vm(shadowMultiplier: multiplier, memoryOverhead: 0)).ShouldBeError(ErrorCodes.InvalidValue, "HVM_shadow_multiplier", printed);
    }

    [Fact]
    public void Rename_restart_after_crash_fails_with_value_not_supported()
    {
        Boot(A.Vm(actionsAfterCrash: "rename_restart")).ShouldBeError(ErrorCodes.ValueNotSupported, "VM.actions_after_crash",
            "rename_restart", "option would leak a domain; VMs and not domains are managed by this API");
    }

    [Fact]
    public void Coredump_after_crash_is_only_for_pv()
    {
        Boot(A.Vm(actionsAfterCrash: "coredump_and_restart")).ShouldBeError(ErrorCodes.ValueNotSupported, "VM.actions_after_crash",
            "coredump_and_restart", "cannot invoke a coredump of an HVM or PV-in-PVH domain");
        Boot(A.Vm(actionsAfterCrash: "coredump_and_destroy", domainType: DomainType.Pv)).ShouldBeNull();
    }

    [Fact]
    public void Dead_host_fails_with_host_not_live()
    {
        Boot(A.Vm(), A.Host(live: false)).ShouldBeError(ErrorCodes.HostNotLive);
    }

    [Fact]
    public void Control_domain_on_another_host_than_its_affinity_fails_with_operation_not_allowed()
    {
        var home = A.Host();
        var vm = A.Vm(isControlDomain: true, affinity: home.Id);
        Boot(vm, A.Host()).ShouldBeError(ErrorCodes.OperationNotAllowed, "Cannot boot a control domain on a host different from its affinity");
        Boot(vm, home).ShouldBeNull();
    }

    [Fact]
    public void Disabled_host_fails_with_host_disabled()
    {
        var host = A.Host(enabled: false);
        Boot(A.Vm(), host).ShouldBeError(ErrorCodes.HostDisabled, host.Id.ToString());
    }

    [Fact]
    public void Control_domain_and_local_migration_may_use_a_disabled_host()
    {
        var host = A.Host(enabled: false);
        Boot(A.Vm(isControlDomain: true, affinity: host.Id), host).ShouldBeNull();
        HostChecks.VmCanRunOnHost(Request(A.Vm(isControlDomain: true)), host).ShouldBeNull();
        Boot(A.Vm(powerState: VmPowerState.Running, residentOn: host.Id), host).ShouldBeNull();
    }

    [Fact]
    public void Host_without_the_vms_sr_fails_with_vm_requires_sr()
    {
        var (seen, missing, alsoMissing) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var vm = A.Vm();
        HostChecks.CanBootHere(Request(vm, srs: [seen, missing, alsoMissing]), A.Host(srs: [seen]))
            .ShouldBeError(ErrorCodes.VmRequiresSr, vm.Id.ToString(), missing.ToString());
    }

    [Fact]
    public void Host_without_the_vms_network_fails_with_vm_requires_network()
    {
        var (seen, missing) = (Guid.NewGuid(), Guid.NewGuid());
        var vm = A.Vm();
        HostChecks.CanBootHere(Request(vm, networks: [seen, missing]), A.Host(networks: [seen]))
            .ShouldBeError(ErrorCodes.VmRequiresNetwork, vm.Id.ToString(), missing.ToString());
    }

    [Theory]
    [InlineData(DomainType.Hvm)]
    [InlineData(DomainType.Pvh)]
    [InlineData(DomainType.PvInPvh)]
    public void Hvm_guest_on_a_host_without_hvm_fails_with_vm_hvm_required(DomainType type)
    {
        var vm = A.Vm(domainType: type);
        Boot(vm, A.Host(hvmCapable: false)).ShouldBeError(ErrorCodes.VmHvmRequired, vm.Id.ToString());
        Boot(A.Vm(domainType: DomainType.Pv), A.Host(hvmCapable: false)).ShouldBeNull();
    }

    [Fact]
    public void Host_short_of_memory_fails_with_needed_and_available_bytes()
    {
        // needed = 1024 + 12 (⌈(256 + 2048)/256⌉ = 9; 1 + 1 + 9 + 1) MiB; available = 1 GiB
        Boot(A.Vm(memory: 1.GiB()), A.Host(memoryTotal: 1.GiB()))
            .ShouldBeError(ErrorCodes.HostNotEnoughFreeMemory, "1086324736", "1073741824");
        HostChecks.CanBootHere(Request(A.Vm(memory: 1.GiB())), A.Host(memoryTotal: 1.GiB()), checkMemory: false).ShouldBeNull();
        HostChecks.CanBootHere(Request(A.Vm(memory: 1.GiB())) with { CheckMemory = false }, A.Host(memoryTotal: 1.GiB())).ShouldBeNull();
    }

    [Fact]
    public void More_vcpus_than_host_cpus_fails_with_host_not_enough_pcpus_unless_unrestricted()
    {
        Boot(A.Vm(vcpusMax: 32), A.Host(cpuCount: 16)).ShouldBeError(ErrorCodes.HostNotEnoughPcpus, "32", "16");
        Boot(A.Vm(vcpusMax: 32, platform: new Dictionary<string, string> { ["vcpu-unrestricted"] = "true" }), A.Host(cpuCount: 16))
            .ShouldBeNull();
        Boot(A.Vm(vcpusMax: 16), A.Host(cpuCount: 16)).ShouldBeNull();
    }

    [Fact]
    public void Assert_can_boot_here_throws_the_first_failure()
    {
        ((Action)(() => HostChecks.AssertCanBootHere(Request(A.Vm()), A.Host(live: false)))).ShouldThrowError(ErrorCodes.HostNotLive);
    }

    [Fact]
    public void Checks_run_in_xapi_order()
    {
        // #2 before #6 before #8 before #17 before #18 before #19
        var dead = A.Host(live: false, enabled: false, hvmCapable: false, memoryTotal: 0, cpuCount: 1);
        Boot(A.Vm(vcpusMax: 2, vcpusAtStartup: 3), dead).ShouldBeError(ErrorCodes.ValueNotSupported, "VCPUs-at-startup", "3", "value greater than VCPUs-max");
        Boot(A.Vm(vcpusMax: 2), dead).ShouldBeError(ErrorCodes.HostNotLive);
        var disabled = dead with { Live = true };
        Boot(A.Vm(vcpusMax: 2), disabled).ShouldBeError(ErrorCodes.HostDisabled, disabled.Id.ToString());
        var vm = A.Vm(vcpusMax: 2);
        Boot(vm, disabled with { Enabled = true }).ShouldBeError(ErrorCodes.VmHvmRequired, vm.Id.ToString());
        Boot(vm, disabled with { Enabled = true, HvmCapable = true })!.Code.ShouldBe(ErrorCodes.HostNotEnoughFreeMemory);
        Boot(vm, disabled with { Enabled = true, HvmCapable = true, MemoryTotal = 8.GiB() })
            .ShouldBeError(ErrorCodes.HostNotEnoughPcpus, "2", "1");
    }

    [Fact]
    public void Can_run_checks_enabled_before_live_and_evacuation_last()
    {
        var host = A.Host(live: false, enabled: false);
        HostChecks.VmCanRunOnHost(Request(A.Vm()), host).ShouldBeError(ErrorCodes.HostDisabled, host.Id.ToString());
        HostChecks.VmCanRunOnHost(Request(A.Vm()), host with { Enabled = true }).ShouldBeError(ErrorCodes.HostNotLive);
        var evacuating = A.Host(currentOperations: ["evacuate"]);
        HostChecks.CanBootHere(Request(A.Vm()), evacuating).ShouldBeNull();
        HostChecks.VmCanRunOnHost(Request(A.Vm()), evacuating)
            .ShouldBeError(ErrorCodes.HostEvacuateInProgress, evacuating.Id.ToString());
    }
}
