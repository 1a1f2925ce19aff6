namespace Xapi.Cqrs.Domain.Storage;

public sealed record SrCreated(Guid SrId, string NameLabel, bool Shared);

public sealed record VdiCreated(Guid VdiId, Guid SrId, string NameLabel, long VirtualSize, bool ReadOnly, bool Sharable, bool Managed,
    IReadOnlyDictionary<string, string>? OtherConfig = null);

/// <summary>
/// A VBD now holds this VDI (marked for attach, or attached). Appended with the VDI stream's expected
/// version by every start, so two VMs cannot both take a non-sharable disk (VDI_IN_USE) in a race.
/// </summary>
public sealed record VdiHeld(Guid VbdId, Guid VmId, bool ReadWrite, Guid TaskId);

/// <summary>The VBD no longer holds the VDI (start failed, VM halted).</summary>
public sealed record VdiReleased(Guid VbdId);
