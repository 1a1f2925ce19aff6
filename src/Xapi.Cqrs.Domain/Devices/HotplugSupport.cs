using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Devices;

/// <summary>
/// Whether a running HVM guest can take device hot-plug (XAPI.md §2.1 row 9, §2.2 row 6; xapi_vbd_helpers.ml and
/// xapi_vif_helpers.ml <c>valid_operations</c>, xapi_pv_driver_version.ml <c>make_error_opt</c>). Only a Running HVM
/// VM is concerned (PV, PVH and pv-in-pvh guests always can). xapi first asks the guest metrics'
/// <c>can_use_hotplug_vbd</c>/<c>_vif</c> (yes/no/unspecified); our <see cref="GuestMetrics"/> do not carry those
/// flags, so they count as unspecified, which falls back to the PV-driver check: no guest metrics (the guest has
/// not reported, or has no PV drivers) → VM_MISSING_PV_DRIVERS [vm].
/// </summary>
public static class HotplugSupport
{
    /// <summary>xapi's <c>has_booted_hvm</c> for a running VM: the checks apply.</summary>
    public static bool Applies(Vm vm) => vm.PowerState == VmPowerState.Running && vm.DomainType == DomainType.Hvm;

    /// <summary>The guest runs PV drivers (detected, or a driver version reported).</summary>
    public static bool HasPvDrivers(GuestMetrics? guest) => guest is { PvDriversDetected: true } || !string.IsNullOrEmpty(guest?.PvDriversVersion);

    /// <summary>VM_MISSING_PV_DRIVERS [vm] for a running HVM VM whose guest has no PV drivers; null otherwise.</summary>
    public static XapiException? MissingPvDrivers(Vm vm) =>
        Applies(vm) && !HasPvDrivers(vm.Guest) ? new XapiException(ErrorCodes.VmMissingPvDrivers, vm.Id.ToString()) : null;
}
