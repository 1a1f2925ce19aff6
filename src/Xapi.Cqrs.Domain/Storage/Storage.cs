using System.Collections.Immutable;

namespace Xapi.Cqrs.Domain.Storage;

public sealed record Sr
{
    public Guid Id { get; init; }

    /// <summary>Stream version this state reflects (maintained by the event store).</summary>
    public long Version { get; set; }

    public string NameLabel { get; init; } = "";
    public bool Shared { get; init; }

    public static Sr From(SrCreated e) => new() { Id = e.SrId, NameLabel = e.NameLabel, Shared = e.Shared };

    public static Sr? Start(object @event) => @event is SrCreated e ? From(e) : null;

    public Sr Evolve(object @event) => this;
}

/// <summary>Who holds a VDI: the VBD, its VM, and whether it is held read-write.</summary>
public sealed record VdiHolder(Guid VmId, bool ReadWrite);

public sealed record Vdi
{
    public Guid Id { get; init; }

    /// <summary>Stream version this state reflects (maintained by the event store).</summary>
    public long Version { get; set; }

    public Guid SrId { get; init; }
    public string NameLabel { get; init; } = "";
    public long VirtualSize { get; init; }
    public bool ReadOnly { get; init; }
    public bool Sharable { get; init; }
    public bool Managed { get; init; } = true;

    /// <summary>VDI.other_config; on a qemu host <c>qemu.kernel</c>, <c>qemu.initrd</c> and <c>qemu.cmdline</c> make the disk a kernel a guest boots directly.</summary>
    public ImmutableDictionary<string, string> OtherConfig { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>VBD id → holder: VBDs attached, reserved or busy with this VDI (the §2.1 row 13 set).</summary>
    public ImmutableDictionary<Guid, VdiHolder> Holders { get; init; } = ImmutableDictionary<Guid, VdiHolder>.Empty;

    public static Vdi From(VdiCreated e) => new()
    {
        Id = e.VdiId,
        SrId = e.SrId,
        NameLabel = e.NameLabel,
        VirtualSize = e.VirtualSize,
        ReadOnly = e.ReadOnly,
        Sharable = e.Sharable,
        Managed = e.Managed,
        OtherConfig = e.OtherConfig?.ToImmutableDictionary() ?? ImmutableDictionary<string, string>.Empty,
    };

    public Vdi On(VdiHeld e) => this with { Holders = Holders.SetItem(e.VbdId, new VdiHolder(e.VmId, e.ReadWrite)) };

    public Vdi On(VdiReleased e) => this with { Holders = Holders.Remove(e.VbdId) };

    public static Vdi? Start(object @event) => @event is VdiCreated e ? From(e) : null;

    public Vdi Evolve(object @event) => @event switch
    {
        VdiHeld x => On(x),
        VdiReleased x => On(x),
        _ => this,
    };
}
