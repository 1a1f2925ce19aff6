namespace Xapi.Cqrs.Domain.Vbds;

// Every event of a VBD stream. The VM stream records the VBD's arrival and removal (VbdAdded, VbdRemoved)
// and owns device-name uniqueness; OperationAdded/Removed (current_operations) live in Operations/, and the
// master's forward of plug/unplug to the VM's host in Devices/.

/// <summary>
/// VBD.create. <see cref="AttachTaskId"/>: the VBD was created by AttachVbd (xe vm-disk-add) together with the plug of
/// that task; if the plug fails, the VBD is destroyed again.
/// </summary>
public sealed record VbdCreated(
    Guid VbdId,
    Guid VmId,
    Guid? VdiId,
    string Userdevice,
    VbdMode Mode,
    VbdType Type,
    bool Bootable,
    bool Empty,
    bool Unpluggable,
    Guid? AttachTaskId = null);

/// <summary>currently_attached changed (set by the host side after plug, cleared on unplug, halt or failure).</summary>
public sealed record VbdCurrentlyAttachedSet(bool CurrentlyAttached, string Device);

/// <summary>Hot-unplug done on the host: the frontend, backend and hotplug entries are gone (§6.7).</summary>
public sealed record VbdUnplugged(Guid TaskId, Guid VbdId, string Device, DateTimeOffset? At = null, double? DurationMs = null) : Vms.IHostStep;

/// <summary>
/// VBD.destroy: the record is gone (reads answer HANDLE_INVALID, the VM no longer lists it); its stream stays in
/// the log. <see cref="Reason"/>: "destroyed", "detached", or why an attach undid its create.
/// </summary>
public sealed record VbdDestroyed(Guid VmId, string Reason);
