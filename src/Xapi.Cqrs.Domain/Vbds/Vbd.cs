using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Devices;
using Xapi.Cqrs.Domain.Operations;

namespace Xapi.Cqrs.Domain.Vbds;

public enum VbdMode
{
    RO,
    RW,
}

public enum VbdType
{
    Disk,
    CD,
    Floppy,
}

/// <summary>xapi's vbd_operations (§2.1).</summary>
public enum VbdOperation
{
    Attach,
    Eject,
    Insert,
    Plug,
    Unplug,
    UnplugForce,
    Pause,
    Unpause,
}

public static class VbdOperations
{
    public static string ToWire(this VbdOperation op) => op switch
    {
        VbdOperation.UnplugForce => "unplug_force",
        _ => op.ToString().ToLowerInvariant(),
    };

    public static VbdOperation Parse(string wire) => wire switch
    {
        "attach" => VbdOperation.Attach,
        "eject" => VbdOperation.Eject,
        "insert" => VbdOperation.Insert,
        "plug" => VbdOperation.Plug,
        "unplug" => VbdOperation.Unplug,
        "unplug_force" => VbdOperation.UnplugForce,
        "pause" => VbdOperation.Pause,
        "unpause" => VbdOperation.Unpause,
        _ => throw new ArgumentException($"unknown VBD operation '{wire}'", nameof(wire)),
    };
}

public sealed record Vbd
{
    public Guid Id { get; init; }

    /// <summary>Stream version this state reflects (maintained by the event store).</summary>
    public long Version { get; set; }

    public Guid VmId { get; init; }
    public Guid? VdiId { get; init; }
    public string Userdevice { get; init; } = "";
    public string Device { get; init; } = "";
    public VbdMode Mode { get; init; }
    public VbdType Type { get; init; }
    public bool Bootable { get; init; }
    public bool Empty { get; init; }
    public bool Unpluggable { get; init; } = true;
    public bool CurrentlyAttached { get; init; }
    public bool Reserved { get; init; }
    public ImmutableDictionary<Guid, VbdOperation> CurrentOperations { get; init; } = ImmutableDictionary<Guid, VbdOperation>.Empty;

    /// <summary>The AttachVbd task that created this VBD and plugs it: if that plug fails, the VBD is destroyed again.</summary>
    public Guid? AttachTaskId { get; init; }

    /// <summary>The DetachVbd task whose unplug destroys this VBD once done.</summary>
    public Guid? DetachTaskId { get; init; }

    /// <summary>VBD.destroy happened: reads answer HANDLE_INVALID; the stream stays for history.</summary>
    public bool Destroyed { get; init; }

    public static Vbd From(VbdCreated e) => new()
    {
        Id = e.VbdId,
        VmId = e.VmId,
        VdiId = e.VdiId,
        Userdevice = e.Userdevice,
        Mode = e.Mode,
        Type = e.Type,
        Bootable = e.Bootable,
        Empty = e.Empty,
        Unpluggable = e.Unpluggable,
        AttachTaskId = e.AttachTaskId,
    };

    public Vbd On(OperationAdded e) =>
        this with { CurrentOperations = CurrentOperations.SetItem(e.TaskId, VbdOperations.Parse(e.Operation)) };

    public Vbd On(OperationRemoved e) => this with { CurrentOperations = CurrentOperations.Remove(e.TaskId) };

    public Vbd On(VbdCurrentlyAttachedSet e) =>
        this with { CurrentlyAttached = e.CurrentlyAttached, Device = e.CurrentlyAttached ? e.Device : Device };

    public Vbd On(DeviceOperationForwarded e) => e.ThenDestroy ? this with { DetachTaskId = e.TaskId } : this;

    public Vbd On(VbdDestroyed e) => this with { Destroyed = true };

    /// <summary>The next state after any event of this stream (unknown events leave it unchanged).</summary>
    public Vbd Evolve(object @event) => @event switch
    {
        OperationAdded x => On(x),
        OperationRemoved x => On(x),
        VbdCurrentlyAttachedSet x => On(x),
        DeviceOperationForwarded x => On(x),
        VbdDestroyed x => On(x),
        _ => this,
    };

    /// <summary>The first state of the stream, from its creation event (null for any other event).</summary>
    public static Vbd? Start(object @event) => @event is VbdCreated e ? From(e) : null;
}
