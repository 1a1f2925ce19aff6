using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Devices;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Vms;
using static Xapi.Cqrs.Domain.Vbds.VbdOperation;

namespace Xapi.Cqrs.Domain.Vbds;

/// <summary>
/// VBD rules (XAPI.md §2.1; ocaml/xapi/xapi_vbd_helpers.ml <c>valid_operations</c>, xapi_vbd.ml
/// <c>create</c>): which VBD operation is allowed, the <c>attach</c> check VM.start makes on every VBD,
/// and the VBD.create rules.
/// </summary>
public static class VbdRules
{
    /// <summary>
    /// §2.1 for VM.start's <c>attach</c> (xapi's <c>assert_attachable</c>, with the expensive sharing
    /// checks). First failing row wins:
    /// <list type="bullet">
    /// <item>row 1: the VBD has a current op → OTHER_OPERATION_IN_PROGRESS ["VBD"; vbd; op; task]
    ///   (the first entry by op name, then task id; <paramref name="taskIdToIgnore"/>'s own entry is skipped
    ///   so a start can re-check a VBD it already marked)</item>
    /// <item>row 11: VDI not managed → VDI_NOT_MANAGED [vdi]</item>
    /// <item>row 12: VDI busy with an op other than mirror/copy — not checked: VDI current
    ///   operations are not modelled yet</item>
    /// <item>row 13: only if this VBD is not currently attached: the VDI is not sharable, this VM is not a
    ///   system domain, and among the other holders (<see cref="Vdi.Holders"/> except this VBD's own hold)
    ///   one is RW, or this VBD is RW and any exists → VDI_IN_USE [vdi; "attach"]. xapi ignores holders
    ///   whose VM is Suspended or a system domain; the holder record does not say so yet, so those holds
    ///   still count here (stricter than xapi).</item>
    /// <item>row 14: VBD RW and VDI read_only → VDI_READONLY [vdi]</item>
    /// </list>
    /// An empty VBD (CD drive without a disk) has no VDI rows.
    /// </summary>
    /// <param name="vbd">The VBD to attach.</param>
    /// <param name="vdi">Its VDI (null when empty).</param>
    /// <param name="vmId">The VM being started (the VBD's VM); a hold recorded for this VBD by this VM is its own.</param>
    /// <param name="vmIsSystemDomain">System domains may share any disk (row 13 skipped).</param>
    /// <param name="taskIdToIgnore">The start task's own mark, if already present.</param>
    public static XapiException? CheckAttach(Vbd vbd, Vdi? vdi, Guid vmId, bool vmIsSystemDomain, Guid? taskIdToIgnore = null) =>
        FirstError(Attach, vbd, new Context(VmPowerState.Halted, [], vdi, vmId, vmIsSystemDomain, SharingChecks: true, taskIdToIgnore));

    /// <summary>
    /// §2.1 for any VBD operation (<c>assert_operation_valid</c>, expensive sharing checks on), e.g. plug.
    /// Rows 8 and 9: <paramref name="vmCurrentOperations"/> feeds row 8; row 9 (HVM hot-plug support,
    /// guest metrics) needs the VM: see the overload that takes it.
    /// </summary>
    public static XapiException? CheckOperation(
        VbdOperation op, Vbd vbd, VmPowerState vmPowerState, Vdi? vdi = null,
        IEnumerable<VmOperation>? vmCurrentOperations = null, bool vmIsSystemDomain = false, Guid? taskIdToIgnore = null) =>
        FirstError(op, vbd, new Context(vmPowerState, [.. vmCurrentOperations ?? []], vdi, vbd.VmId, vmIsSystemDomain, SharingChecks: true, taskIdToIgnore));

    /// <summary>
    /// §2.1 for any VBD operation of <paramref name="vm"/>'s VBD, every row the VM's state feeds: its power state
    /// (row 7), its current operations (row 8), and, for a running HVM VM (row 9), its guest's PV drivers
    /// (<see cref="HotplugSupport"/>: none → VM_MISSING_PV_DRIVERS [vm]) and the CD rule (an HVM CD drive can never
    /// be hot(un)plugged → OPERATION_NOT_ALLOWED ["HVM CDROMs cannot be hotplugged/unplugged, only inserted or
    /// ejected"]; xapi records the PV-driver error first, so it wins when both apply).
    /// </summary>
    public static XapiException? CheckOperation(VbdOperation op, Vbd vbd, Vm vm, Vdi? vdi = null, Guid? taskIdToIgnore = null) =>
        FirstError(op, vbd, Context.Of(vm, vdi, sharingChecks: true, taskIdToIgnore));

    /// <summary>
    /// §2.1 allowed_operations for the read model: every VBD op that no row blocks, sorted by wire name.
    /// As xapi's <c>update_allowed_operations</c>, without the expensive sharing check (row 13,
    /// CA-20808), so the list may be slightly optimistic; rows 9 and 12 are not modelled here (see the overload
    /// that takes the VM for row 9).
    /// </summary>
    public static ImmutableArray<VbdOperation> AllowedOperations(
        Vbd vbd, VmPowerState vmPowerState, Vdi? vdi = null, IEnumerable<VmOperation>? vmCurrentOperations = null) =>
        Allowed(vbd, new Context(vmPowerState, [.. vmCurrentOperations ?? []], vdi, vbd.VmId, VmIsSystemDomain: false, SharingChecks: false, TaskIdToIgnore: null));

    /// <summary>§2.1 allowed_operations of <paramref name="vm"/>'s VBD, row 9 included (no expensive sharing check).</summary>
    public static ImmutableArray<VbdOperation> AllowedOperations(Vbd vbd, Vm vm, Vdi? vdi = null) =>
        Allowed(vbd, Context.Of(vm, vdi, sharingChecks: false, taskIdToIgnore: null));

    private static ImmutableArray<VbdOperation> Allowed(Vbd vbd, Context context) =>
        [.. Enum.GetValues<VbdOperation>().Where(op => FirstError(op, vbd, context) is null).OrderBy(op => op.ToWire(), StringComparer.Ordinal)];

    /// <summary>VBD_NOT_REMOVABLE_MEDIA's parameter when VBD.create refuses an empty non-CD drive (xapi_vbd.ml <c>create</c>).</summary>
    public const string InConstructor = "in constructor";

    private sealed record Context(
        VmPowerState PowerState,
        ImmutableArray<VmOperation> VmOperations,
        Vdi? Vdi,
        Guid VmId,
        bool VmIsSystemDomain,
        bool SharingChecks,
        Guid? TaskIdToIgnore,
        Vm? Vm = null)
    {
        public static Context Of(Vm vm, Vdi? vdi, bool sharingChecks, Guid? taskIdToIgnore) =>
            new(vm.PowerState, [.. vm.CurrentOperations.Values], vdi, vm.Id, vm.IsControlDomain, sharingChecks, taskIdToIgnore, vm);
    }

    /// <summary>Row 9's text for HVM CD drives (xapi_vbd_helpers.ml).</summary>
    public const string HvmCdromsCannotBeHotplugged = "HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected";

    /// <summary>The first §2.1 row, in table order, that blocks <paramref name="op"/> (xapi keeps the first error per op).</summary>
    private static XapiException? FirstError(VbdOperation op, Vbd vbd, Context c)
    {
        var vbdRef = vbd.Id.ToString();
        var vmRef = vbd.VmId.ToString();
        var current = CurrentOperations.Ordered(vbd.CurrentOperations, o => o.ToWire(), c.TaskIdToIgnore);
        var plugOps = op is Plug or Unplug or UnplugForce;

        // rows 1-3: one operation at a time, except pause/unpause (and attach during unpause, CA-24282)
        var busy = current.Count > 0 && (
            op is not (Pause or Unpause)
            || (op is Pause && current.Any(e => e.Op is not ("pause" or "unpause")))
            || (op is Unpause && current.Any(e => e.Op is not ("attach" or "pause" or "unpause"))));
        if (busy)
        {
            return new(ErrorCodes.OtherOperationInProgress, ObjectClass.Vbd, vbdRef, current[0].Op, current[0].Task.ToString());
        }

        if (!vbd.Unpluggable && op is Unplug or UnplugForce)
        {
            return new(ErrorCodes.VbdNotUnpluggable, vbdRef); // row 4
        }

        if (vbd.Type is not VbdType.CD && op is Insert or Eject)
        {
            return new(ErrorCodes.VbdNotRemovableMedia, vbdRef); // row 5
        }

        if (vbd.Empty ? op is Eject : op is Insert)
        {
            return new(vbd.Empty ? ErrorCodes.VbdIsEmpty : ErrorCodes.VbdNotEmpty, vbdRef); // row 6
        }

        // row 7: plug/unplug need a Running VM; pause/unpause need Running or Paused
        var plugged = vbd.CurrentlyAttached || vbd.Reserved;
        if (c.PowerState is VmPowerState.Running)
        {
            if (plugged && op is Plug)
            {
                return new(ErrorCodes.DeviceAlreadyAttached, vbdRef);
            }

            if (!plugged && op is Unplug or UnplugForce)
            {
                return new(ErrorCodes.DeviceAlreadyDetached, vbdRef);
            }
        }
        else if (plugOps || (op is Pause or Unpause && c.PowerState is not VmPowerState.Paused))
        {
            return new(ErrorCodes.VmBadPowerState, vmRef, VmPowerState.Running.ToWire(), c.PowerState.ToWire());
        }

        // row 8: no plug/unplug while the VM is shutting down, suspending or pausing
        if (op is Plug or Unplug
            && c.VmOperations.Where(o => o is VmOperation.CleanShutdown or VmOperation.HardShutdown or VmOperation.Suspend or VmOperation.Pause)
                .Select(o => o.ToWire()).Order(StringComparer.Ordinal).FirstOrDefault() is { } vmOp)
        {
            return new(ErrorCodes.OperationNotAllowed, $"Current operation on VM:{vmRef} is {vmOp}");
        }

        // row 9: a running HVM guest hot(un)plugs only with PV drivers, and never a CD drive (needs the VM's state)
        if (plugOps && c.Vm is { } vm && HotplugSupport.Applies(vm))
        {
            if (HotplugSupport.MissingPvDrivers(vm) is { } missing)
            {
                return missing;
            }

            if (vbd.Type is VbdType.CD)
            {
                return new(ErrorCodes.OperationNotAllowed, HvmCdromsCannotBeHotplugged);
            }
        }

        if (vbd.Type is VbdType.CD && c.PowerState is VmPowerState.Suspended && op is Insert or Eject)
        {
            return new(ErrorCodes.VmBadPowerState, vmRef, "halted, running", VmPowerState.Suspended.ToWire()); // row 10
        }

        if (vbd.Empty || c.Vdi is not { } vdi)
        {
            return null;
        }

        var vdiRef = vdi.Id.ToString();
        if (!vdi.Managed)
        {
            return new(ErrorCodes.VdiNotManaged, vdiRef); // row 11
        }

        // row 12 (VDI current operations other than mirror/copy) is not modelled yet.

        var takesDisk = op is Attach or Insert or Plug;
        if (takesDisk && c.SharingChecks && !vbd.CurrentlyAttached && !vdi.Sharable && !c.VmIsSystemDomain)
        {
            var others = vdi.Holders.Where(h => !(h.Key == vbd.Id && h.Value.VmId == c.VmId)).Select(h => h.Value).ToList();
            if (others.Any(h => h.ReadWrite) || (vbd.Mode is VbdMode.RW && others.Count > 0))
            {
                return new(ErrorCodes.VdiInUse, vdiRef, op.ToWire()); // row 13
            }
        }

        if (takesDisk && vbd.Mode is VbdMode.RW && vdi.ReadOnly)
        {
            return new(ErrorCodes.VdiReadonly, vdiRef); // row 14
        }

        return null;
    }

    /// <summary>
    /// VBD.create rules (§2.1 "other VBD rules", xapi_vbd.ml <c>create</c>), in xapi's order; throws the
    /// first violation and returns the userdevice to store ("autodetect" resolved):
    /// <list type="number">
    /// <item>a CD must be RO → VBD_CDS_MUST_BE_READONLY []</item>
    /// <item>only a CD may be empty → VBD_NOT_REMOVABLE_MEDIA ["in constructor"] (xapi's literal)</item>
    /// <item>RW on a read-only VDI → VDI_READONLY [vdi]</item>
    /// <item>the VM is migrating (migrate_send, pool_migrate) → OTHER_OPERATION_IN_PROGRESS ["VM"; vm; op]</item>
    /// <item>userdevice neither a valid device name for this VM (positions 0–254, 0–255 for control
    ///   domains) nor "autodetect", or "autodetect" with no free position → INVALID_DEVICE [userdevice]</item>
    /// <item>"autodetect" becomes the lowest free position as a decimal string</item>
    /// <item>the position is already used by one of the VM's VBDs, whatever alias names it ("1", "xvdb",
    ///   "hdb", "sdb") → DEVICE_ALREADY_EXISTS [userdevice as resolved]</item>
    /// </list>
    /// The caller loads the VDI (HANDLE_INVALID when it does not exist).
    /// </summary>
    /// <returns>The userdevice to record.</returns>
    /// <remarks>The VM stream records it with VbdAdded at the version it was locked at, so two creates cannot take one position.</remarks>
    public static string CheckCreate(Vm vm, string userdevice, VbdType type, VbdMode mode, bool empty, Vdi? vdi)
    {
        if (type is VbdType.CD && mode is not VbdMode.RO)
        {
            throw new XapiException(ErrorCodes.VbdCdsMustBeReadonly);
        }

        if (type is not VbdType.CD && empty)
        {
            throw new XapiException(ErrorCodes.VbdNotRemovableMedia, InConstructor);
        }

        if (!empty && mode is VbdMode.RW && vdi is { ReadOnly: true })
        {
            throw new XapiException(ErrorCodes.VdiReadonly, vdi.Id.ToString());
        }

        if (vm.CurrentOperations.Values.Where(o => o is VmOperation.MigrateSend or VmOperation.PoolMigrate)
                .Select(o => o.ToWire()).Order(StringComparer.Ordinal).FirstOrDefault() is { } migrating)
        {
            throw new XapiException(ErrorCodes.OtherOperationInProgress, ObjectClass.Vm, vm.Id.ToString(), migrating);
        }

        var taken = vm.Vbds.Values.Select(d => DeviceNames.Position(d, vm.IsControlDomain)).OfType<int>().ToList();
        var max = vm.IsControlDomain ? DeviceNames.MaxControlDomainPosition : DeviceNames.MaxPosition;
        var position = userdevice == DeviceNames.Autodetect
            ? DeviceNames.FirstFree(taken, max)
            : DeviceNames.Position(userdevice, vm.IsControlDomain);
        if (position is not int p)
        {
            throw new XapiException(ErrorCodes.InvalidDevice, userdevice);
        }

        var resolved = userdevice == DeviceNames.Autodetect ? p.ToString(System.Globalization.CultureInfo.InvariantCulture) : userdevice;
        if (taken.Contains(p))
        {
            throw new XapiException(ErrorCodes.DeviceAlreadyExists, resolved);
        }

        return resolved;
    }
}
