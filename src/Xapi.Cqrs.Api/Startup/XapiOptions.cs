namespace Xapi.Cqrs.Api.Startup;

/// <summary>The Xapi:* configuration keys (API.md "Starting the service").</summary>
public sealed class XapiOptions
{
    public string Schema { get; set; } = "xapi";
    public string Hypervisor { get; set; } = "simulated";
    public string? AdminToken { get; set; }
    public string DataDir { get; set; } = ".data";
    public int? Seed { get; set; }

    /// <summary>Register the demo pool (4 simulated hosts, a few halted VMs) when the store is empty.</summary>
    public bool DemoPool { get; set; }

    /// <summary>With <see cref="DemoPool"/>: also register one qemu host and a small VM placed on it (ops/run --qemu).</summary>
    public bool DemoQemuHost { get; set; }
}
