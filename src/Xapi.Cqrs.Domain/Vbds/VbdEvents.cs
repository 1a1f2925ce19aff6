namespace Xapi.Cqrs.Domain.Vbds;

public sealed record VbdCreated(
    Guid VbdId,
    Guid VmId,
    Guid? VdiId,
    string Userdevice,
    VbdMode Mode,
    VbdType Type,
    bool Bootable,
    bool Empty,
    bool Unpluggable);

/// <summary>currently_attached changed (set by the host side after plug, cleared on halt or failure).</summary>
public sealed record VbdCurrentlyAttachedSet(bool CurrentlyAttached, string Device);
