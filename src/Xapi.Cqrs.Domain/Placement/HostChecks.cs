using System.Globalization;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Placement;

/// <summary>
/// Per-host validation (XAPI.md §4.3; ocaml/xapi/xapi_vm_helpers.ml <c>assert_can_boot_here</c>,
/// <c>vm_can_run_on_host</c>). Not modelled, so never failing: #1 legacy vGPU hardware, #9 virtual
/// hardware platform version, #10 CPUID compatibility, #13 IOMMU, #14 vGPU, #15 VUSB, #16 SR-IOV, and
/// the rolling-upgrade version rule of <c>vm_can_run_on_host</c>.
/// </summary>
public static class HostChecks
{
    /// <summary>
    /// §4.3 <c>assert_can_boot_here</c>, returning the first failure (null = the VM can boot here):
    /// <list type="bullet">
    /// <item>#2 VCPUs_max ≥ 1 → INVALID_VALUE ["VCPUs_max"; v]; VCPUs_at_startup ≥ 1 → INVALID_VALUE
    ///   ["VCPUs-at-startup"; v]; at_startup ≤ max → VALUE_NOT_SUPPORTED ["VCPUs-at-startup"; v;
    ///   "value greater than VCPUs-max"]</item>
    /// <item>#3 constraints coercible (static_min ≤ static_max, dynamic_min ≤ dynamic_max) →
    ///   MEMORY_CONSTRAINT_VIOLATION []</item>
    /// <item>#4 HVM_shadow_multiplier ≥ 1.0 → INVALID_VALUE ["HVM_shadow_multiplier"; v] (v as OCaml's
    ///   <c>string_of_float</c> prints it, e.g. "0.5", "0.")</item>
    /// <item>#5 actions_after_crash: rename_restart never, coredump_* only for pv →
    ///   VALUE_NOT_SUPPORTED ["VM.actions_after_crash"; v; reason]</item>
    /// <item>#6 host live → HOST_NOT_LIVE []</item>
    /// <item>#7 a control domain only on its affinity host (when it has one) → OPERATION_NOT_ALLOWED [reason]</item>
    /// <item>#8 host enabled, except for control domains and a Running VM already resident there →
    ///   HOST_DISABLED [host]</item>
    /// <item>#11 the host has every SR of <see cref="PlacementRequest.SrIds"/> → VM_REQUIRES_SR [vm; first missing sr]</item>
    /// <item>#12 the host has every network of <see cref="PlacementRequest.NetworkIds"/>; a network no host lists (internal)
    ///   is seen by any host unless a VM on it is scheduled or resident on another host → VM_REQUIRES_NETWORK [vm; network]</item>
    /// <item>#17 hvm, pvh and pv_in_pvh need an HVM-capable host → VM_HVM_REQUIRED [vm]</item>
    /// <item>#18 (when memory is checked) free memory (§5.4, without this VM's own reservation) ≥ the
    ///   start requirement (§5.3) → HOST_NOT_ENOUGH_FREE_MEMORY [needed bytes; available bytes]</item>
    /// <item>#19 VCPUs_max ≤ host CPUs unless platform vcpu-unrestricted → HOST_NOT_ENOUGH_PCPUS [vcpus; pcpus]</item>
    /// </list>
    /// </summary>
    /// <param name="request">The VM and what it uses.</param>
    /// <param name="host">The candidate host.</param>
    /// <param name="checkMemory">Overrides <see cref="PlacementRequest.CheckMemory"/> (placement's second pass passes false).</param>
    public static XapiException? CanBootHere(PlacementRequest request, HostSnapshot host, bool? checkMemory = null)
    {
        var vm = request.Vm;
        var h = host.Host;
        var vmRef = vm.Id.ToString();
        var hostRef = h.Id.ToString();
        var domainType = vm.DomainType.Resolve(vm.HvmBootPolicy);

        if (vm.VcpusMax < 1)
        {
            return new(ErrorCodes.InvalidValue, "VCPUs_max", Int(vm.VcpusMax));
        }

        if (vm.VcpusAtStartup < 1)
        {
            return new(ErrorCodes.InvalidValue, "VCPUs-at-startup", Int(vm.VcpusAtStartup));
        }

        if (vm.VcpusAtStartup > vm.VcpusMax)
        {
            return new(ErrorCodes.ValueNotSupported, "VCPUs-at-startup", Int(vm.VcpusAtStartup), "value greater than VCPUs-max");
        }

        if (vm.MemoryStaticMin > vm.MemoryStaticMax || vm.MemoryDynamicMin > vm.MemoryDynamicMax)
        {
            return new(ErrorCodes.MemoryConstraintViolation);
        }

        if (vm.HvmShadowMultiplier < 1.0)
        {
            return new(ErrorCodes.InvalidValue, "HVM_shadow_multiplier", OcamlFloat(vm.HvmShadowMultiplier));
        }

        if (CrashActionError(vm.ActionsAfterCrash, domainType) is { } crash)
        {
            return crash;
        }

        if (!h.Live)
        {
            return new(ErrorCodes.HostNotLive);
        }

        if (ControlDomainAffinityError(vm, h.Id) is { } affinity)
        {
            return affinity;
        }

        var localMigration = vm.PowerState is VmPowerState.Running && vm.ResidentOn == h.Id;
        if (!vm.IsControlDomain && !localMigration && !h.Enabled)
        {
            return new(ErrorCodes.HostDisabled, hostRef);
        }

        if (FirstMissing(request.SrIds, h.Srs) is Guid sr)
        {
            return new(ErrorCodes.VmRequiresSr, vmRef, sr.ToString());
        }

        foreach (var network in request.NetworkIds)
        {
            var seen = request.InternalNetworkHosts.TryGetValue(network, out var users)
                ? users.All(u => u == h.Id) // internal: only where the VMs already on it run
                : h.Networks.Contains(network);
            if (!seen)
            {
                return new(ErrorCodes.VmRequiresNetwork, vmRef, network.ToString());
            }
        }

        if (domainType.NeedsHvm() && !h.HvmCapable)
        {
            return new(ErrorCodes.VmHvmRequired, vmRef);
        }

        if (checkMemory ?? request.CheckMemory)
        {
            var needed = MemoryModel.StartMemoryRequired(vm);
            var available = h.FreeMemory(excludingScheduledVm: vm.Id);
            if (available < needed)
            {
                return new(ErrorCodes.HostNotEnoughFreeMemory, Int(needed), Int(available));
            }
        }

        if (vm.VcpusMax > h.CpuCount && !VmLifecycle.IsTrue(vm.Platform, "vcpu-unrestricted"))
        {
            return new(ErrorCodes.HostNotEnoughPcpus, Int(vm.VcpusMax), Int(h.CpuCount));
        }

        return null;
    }

    /// <summary>§4.3 as an assertion: throws the first failure of <see cref="CanBootHere"/>.</summary>
    public static void AssertCanBootHere(PlacementRequest request, HostSnapshot host, bool? checkMemory = null)
    {
        if (CanBootHere(request, host, checkMemory) is { } error)
        {
            throw error;
        }
    }

    /// <summary>
    /// §4.3 top, <c>vm_can_run_on_host</c>: xapi answers a boolean; here the failing check is returned
    /// (null = the VM can run there) so placement can record it in <see cref="HostCandidate.FailedCheck"/>.
    /// In order: host enabled unless the VM is a control domain (HOST_DISABLED [host]); host live
    /// (HOST_NOT_LIVE []); <see cref="CanBootHere"/>; no <c>evacuate</c> in the host's current operations
    /// (reported as HOST_EVACUATE_IN_PROGRESS [host]).
    /// </summary>
    public static XapiException? VmCanRunOnHost(PlacementRequest request, HostSnapshot host, bool? checkMemory = null)
    {
        var h = host.Host;
        if (!request.Vm.IsControlDomain && !h.Enabled)
        {
            return new(ErrorCodes.HostDisabled, h.Id.ToString());
        }

        if (!h.Live)
        {
            return new(ErrorCodes.HostNotLive);
        }

        if (CanBootHere(request, host, checkMemory) is { } error)
        {
            return error;
        }

        return h.IsEvacuating ? new(ErrorCodes.HostEvacuateInProgress, h.Id.ToString()) : null;
    }

    /// <summary>§4.3 #7 (<c>assert_matches_control_domain_affinity</c>, CA-233580).</summary>
    internal static XapiException? ControlDomainAffinityError(Vm vm, Guid hostId) =>
        vm.IsControlDomain && vm.Affinity is Guid affinity && affinity != hostId
            ? new(ErrorCodes.OperationNotAllowed, "Cannot boot a control domain on a host different from its affinity")
            : null;

    /// <summary>§4.3 #5 (<c>validate_actions_after_crash</c>).</summary>
    private static XapiException? CrashActionError(string action, DomainType domainType) => action switch
    {
        "rename_restart" => new(ErrorCodes.ValueNotSupported, "VM.actions_after_crash", action,
            "option would leak a domain; VMs and not domains are managed by this API"),
        "coredump_and_destroy" or "coredump_and_restart" when domainType is not DomainType.Pv =>
            new(ErrorCodes.ValueNotSupported, "VM.actions_after_crash", action,
                "cannot invoke a coredump of an HVM or PV-in-PVH domain"),
        _ => null,
    };

    private static Guid? FirstMissing(IEnumerable<Guid> needed, IEnumerable<Guid> present) =>
        needed.Where(id => !present.Contains(id)).Select(id => (Guid?)id).FirstOrDefault();

    private static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// OCaml's <c>string_of_float</c>: "%.12g", with a trailing "." when the result looks like an
    /// integer (1.0 → "1.", 0.5 → "0.5", 1e-05 → "1e-05").
    /// </summary>
    internal static string OcamlFloat(double value)
    {
        if (double.IsNaN(value))
        {
            return "nan";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "inf" : "-inf";
        }

        var s = value.ToString("G12", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
        return s.All(c => char.IsAsciiDigit(c) || c == '-') ? s + "." : s;
    }
}
