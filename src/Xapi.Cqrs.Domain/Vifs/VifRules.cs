using System.Collections.Immutable;
using System.Globalization;
using Xapi.Cqrs.Domain.Devices;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Vifs;

/// <summary>
/// VIF rules (XAPI.md §2.2, §2.3; ocaml/xapi/xapi_vif_helpers.ml <c>valid_operations</c>, <c>create</c>;
/// message_forwarding.ml <c>mark_vifs</c>).
/// </summary>
public static class VifRules
{
    /// <summary>
    /// §2.2 for any VIF operation, first failing row wins:
    /// <list type="bullet">
    /// <item>row 1: any current op → OTHER_OPERATION_IN_PROGRESS ["VIF"; vif; "{ops}"; "{tasks}"] (always
    ///   braced, ordered by op name then task id; <paramref name="taskIdToIgnore"/>'s own entry is skipped)</item>
    /// <item>row 2 (dom0 may not plug) and row 3 (SR-IOV networks): not modelled</item>
    /// <item>row 4: VM Running and attached or reserved → plug DEVICE_ALREADY_ATTACHED [vif]; Running and
    ///   detached → unplug DEVICE_ALREADY_DETACHED [vif]; not Running → plug, unplug
    ///   VM_BAD_POWER_STATE [vm; "running"; actual]</item>
    /// <item>row 5: the VM runs clean_shutdown, hard_shutdown, suspend or pause → plug, unplug
    ///   OPERATION_NOT_ALLOWED ["Current operation on VM:&lt;vm&gt; is &lt;op&gt;"]</item>
    /// <item>row 6 (HVM hot-plug support from guest metrics): needs the VM, see the overload that takes it</item>
    /// </list>
    /// </summary>
    public static XapiException? CheckOperation(
        VifOperation op, Vif vif, VmPowerState vmPowerState, IEnumerable<VmOperation>? vmCurrentOperations = null, Guid? taskIdToIgnore = null) =>
        FirstError(op, vif, vmPowerState, vmCurrentOperations, taskIdToIgnore, vm: null);

    /// <summary>
    /// §2.2 for any operation on <paramref name="vm"/>'s VIF, every row its state feeds, row 6 included: a running
    /// HVM guest without PV drivers refuses plug and unplug with VM_MISSING_PV_DRIVERS [vm] (<see cref="HotplugSupport"/>).
    /// </summary>
    public static XapiException? CheckOperation(VifOperation op, Vif vif, Vm vm, Guid? taskIdToIgnore = null) =>
        FirstError(op, vif, vm.PowerState, vm.CurrentOperations.Values, taskIdToIgnore, vm);

    /// <summary>§2.2 allowed_operations of <paramref name="vm"/>'s VIF, row 6 included.</summary>
    public static ImmutableArray<VifOperation> AllowedOperations(Vif vif, Vm vm) =>
        [.. Enum.GetValues<VifOperation>().Where(op => CheckOperation(op, vif, vm) is null).OrderBy(op => op.ToWire(), StringComparer.Ordinal)];

    private static XapiException? FirstError(
        VifOperation op, Vif vif, VmPowerState vmPowerState, IEnumerable<VmOperation>? vmCurrentOperations, Guid? taskIdToIgnore, Vm? vm)
    {
        var vifRef = vif.Id.ToString();
        var vmRef = vif.VmId.ToString();
        var current = CurrentOperations.Ordered(vif.CurrentOperations, o => o.ToWire(), taskIdToIgnore);
        if (current.Count > 0)
        {
            var (ops, tasks) = CurrentOperations.Quote(current, alwaysBraced: true);
            return new(ErrorCodes.OtherOperationInProgress, ObjectClass.Vif, vifRef, ops, tasks);
        }

        var plugged = vif.CurrentlyAttached || vif.Reserved;
        if (vmPowerState is VmPowerState.Running)
        {
            if (plugged && op is VifOperation.Plug)
            {
                return new(ErrorCodes.DeviceAlreadyAttached, vifRef);
            }

            if (!plugged && op is VifOperation.Unplug)
            {
                return new(ErrorCodes.DeviceAlreadyDetached, vifRef);
            }
        }
        else if (op is VifOperation.Plug or VifOperation.Unplug)
        {
            return new(ErrorCodes.VmBadPowerState, vmRef, VmPowerState.Running.ToWire(), vmPowerState.ToWire());
        }

        if (op is VifOperation.Plug or VifOperation.Unplug
            && (vmCurrentOperations ?? []).Where(o => o is VmOperation.CleanShutdown or VmOperation.HardShutdown or VmOperation.Suspend or VmOperation.Pause)
                .Select(o => o.ToWire()).Order(StringComparer.Ordinal).FirstOrDefault() is { } vmOp)
        {
            return new(ErrorCodes.OperationNotAllowed, $"Current operation on VM:{vmRef} is {vmOp}");
        }

        // row 6: a running HVM guest hot(un)plugs only with PV drivers
        if (op is VifOperation.Plug or VifOperation.Unplug && vm is not null && HotplugSupport.MissingPvDrivers(vm) is { } missing)
        {
            return missing;
        }

        return null;
    }

    /// <summary>§2.2 for VM.start's <c>attach</c>: only row 1 can refuse it.</summary>
    public static XapiException? CheckAttach(Vif vif, Guid? taskIdToIgnore = null) =>
        CheckOperation(VifOperation.Attach, vif, VmPowerState.Halted, taskIdToIgnore: taskIdToIgnore);

    /// <summary>
    /// §2.3 <c>mark_vifs</c>: every VIF is tried for <c>attach</c>; if any cannot be marked, none is —
    /// the individual errors are dropped (as xapi does, so the failure is not retried) and
    /// OPERATION_NOT_ALLOWED ["Failed to lock all VIFs"] is thrown. Otherwise returns the ids of all the
    /// VIFs (in the given order) to mark with (task → attach).
    /// </summary>
    public static ImmutableArray<Guid> MarkAll(IEnumerable<Vif> vifs, Guid? taskIdToIgnore = null)
    {
        var all = vifs.ToList();
        if (all.Any(v => CheckAttach(v, taskIdToIgnore) is not null))
        {
            throw new XapiException(ErrorCodes.OperationNotAllowed, "Failed to lock all VIFs");
        }

        return [.. all.Select(v => v.Id)];
    }

    /// <summary>
    /// VIF.create rules (§2.2, xapi_vif_helpers.ml <c>create</c>), in xapi's order; throws the first
    /// violation and returns the MAC to store:
    /// <list type="number">
    /// <item><paramref name="device"/> must be an unsigned decimal string → INVALID_DEVICE [device]</item>
    /// <item>an empty MAC is derived from the VM's other_config <c>mac_seed</c> and the device
    ///   (<see cref="Macs.Derive"/>, autogenerated = true); without a mac_seed it stays empty, as in xapi</item>
    /// <item>the MAC must be valid → MAC_INVALID [mac]</item>
    /// <item>no other VIF of the VM may have the same device number → DEVICE_ALREADY_EXISTS [device]
    ///   (compared as numbers, so "01" clashes with "1"; xapi compares the strings and leaves such a
    ///   clash to xenopsd at plug time)</item>
    /// </list>
    /// The caller appends VifAdded to the VM stream with the version it read (xapi: a mutex).
    /// </summary>
    public static (string Mac, bool MacAutogenerated) CheckCreate(Vm vm, string device, string mac)
    {
        if (DeviceNumber(device) is not long number)
        {
            throw new XapiException(ErrorCodes.InvalidDevice, device);
        }

        var autogenerated = false;
        if (mac.Length == 0 && vm.OtherConfig.TryGetValue("mac_seed", out var seed))
        {
            (mac, autogenerated) = (Macs.Derive(seed, device), true);
        }

        if (!Macs.IsValid(mac))
        {
            throw new XapiException(ErrorCodes.MacInvalid, mac);
        }

        if (vm.Vifs.Values.Any(d => DeviceNumber(d) == number))
        {
            throw new XapiException(ErrorCodes.DeviceAlreadyExists, device);
        }

        return (mac, autogenerated);
    }

    /// <summary>§2.2 allowed_operations for the read model: VIF ops no row blocks, sorted by wire name.</summary>
    public static ImmutableArray<VifOperation> AllowedOperations(
        Vif vif, VmPowerState vmPowerState, IEnumerable<VmOperation>? vmCurrentOperations = null)
    {
        var vmOps = (vmCurrentOperations ?? []).ToList();
        return [.. Enum.GetValues<VifOperation>().Where(op => CheckOperation(op, vif, vmPowerState, vmOps) is null).OrderBy(op => op.ToWire(), StringComparer.Ordinal)];
    }

    private static long? DeviceNumber(string device) =>
        device.Length > 0 && device.All(char.IsAsciiDigit)
        && long.TryParse(device, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
}
