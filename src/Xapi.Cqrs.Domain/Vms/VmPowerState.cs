namespace Xapi.Cqrs.Domain.Vms;

/// <summary>xapi's vm_power_state (§1.1). Serialised as "Halted", "Paused", "Running", "Suspended".</summary>
public enum VmPowerState
{
    Halted,
    Paused,
    Running,
    Suspended,
}

public static class VmPowerStates
{
    /// <summary>The lowercase name xapi puts in error parameters (<c>Record_util.power_to_string</c>): "halted".</summary>
    public static string ToWire(this VmPowerState state) => state switch
    {
        VmPowerState.Halted => "halted",
        VmPowerState.Paused => "paused",
        VmPowerState.Running => "running",
        VmPowerState.Suspended => "suspended",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };
}

/// <summary>xapi's domain_type; "unspecified" is resolved at start (§3.1 step 5).</summary>
public enum DomainType
{
    Unspecified,
    Hvm,
    Pv,
    Pvh,
    PvInPvh,
}

public static class DomainTypes
{
    public static string ToWire(this DomainType type) => type switch
    {
        DomainType.Hvm => "hvm",
        DomainType.Pv => "pv",
        DomainType.Pvh => "pvh",
        DomainType.PvInPvh => "pv_in_pvh",
        _ => "unspecified",
    };

    public static bool TryParse(string? wire, out DomainType type)
    {
        type = wire switch
        {
            "hvm" => DomainType.Hvm,
            "pv" => DomainType.Pv,
            "pvh" => DomainType.Pvh,
            "pv_in_pvh" => DomainType.PvInPvh,
            "unspecified" => DomainType.Unspecified,
            _ => (DomainType)(-1),
        };
        return Enum.IsDefined(type);
    }

    /// <summary>
    /// §3.1 step 5 (<c>ensure_domain_type_is_specified</c>, <c>derive_domain_type</c>): an unspecified
    /// domain type is derived from HVM_boot_policy, "" → pv, anything else → hvm. Others are kept.
    /// </summary>
    public static DomainType Resolve(this DomainType type, string hvmBootPolicy) =>
        type is DomainType.Unspecified ? (hvmBootPolicy.Length == 0 ? DomainType.Pv : DomainType.Hvm) : type;

    /// <summary>hvm, pvh and pv_in_pvh need a host with HVM capability (§4.3 #17).</summary>
    public static bool NeedsHvm(this DomainType type) =>
        type is DomainType.Hvm or DomainType.Pvh or DomainType.PvInPvh;
}
