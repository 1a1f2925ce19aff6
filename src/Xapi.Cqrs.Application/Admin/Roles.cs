namespace Xapi.Cqrs.Application.Admin;

/// <summary>xapi's RBAC roles, from least to most privileged; each role may do what the ones below it may.</summary>
public enum Role
{
    ReadOnly,
    VmOperator,
    VmAdmin,
    VmPowerAdmin,
    PoolOperator,
    PoolAdmin,
}

public static class Roles
{
    public static string ToWire(this Role role) => role switch
    {
        Role.ReadOnly => "read-only",
        Role.VmOperator => "vm-operator",
        Role.VmAdmin => "vm-admin",
        Role.VmPowerAdmin => "vm-power-admin",
        Role.PoolOperator => "pool-operator",
        _ => "pool-admin",
    };

    public static bool TryParse(string? wire, out Role role)
    {
        foreach (var r in Enum.GetValues<Role>())
        {
            if (r.ToWire() == wire)
            {
                role = r;
                return true;
            }
        }

        role = Role.ReadOnly;
        return false;
    }

    public static IEnumerable<string> WireNames => Enum.GetValues<Role>().Select(r => r.ToWire());
}
