namespace Xapi.Cqrs.HostAgent.Hypervisor;

/// <summary>
/// Where simulated hosts keep their state so that it outlives a restart of the service, as a real host's domains
/// outlive a restart of its toolstack (API.md: under <c>Xapi:DataDir</c>, <c>&lt;DataDir&gt;/hypervisors</c>). Each host
/// has a directory of its own, <c>&lt;StateDirectory&gt;/&lt;host-uuid&gt;</c>. Null: in memory only (tests).
/// </summary>
public sealed record SimulatorSettings(string? StateDirectory)
{
    /// <summary>The subdirectory of the data directory that holds the simulated hosts.</summary>
    public const string DataDirSubdirectory = "hypervisors";

    /// <summary>Nothing kept on disk.</summary>
    public static SimulatorSettings InMemory { get; } = new((string?)null);

    /// <summary>The settings for a service whose data directory is <paramref name="dataDir"/>.</summary>
    public static SimulatorSettings UnderDataDir(string dataDir)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataDir);
        return new SimulatorSettings(Path.GetFullPath(Path.Combine(dataDir, DataDirSubdirectory)));
    }

    /// <summary>The directory of one host's state, or null when nothing is kept on disk.</summary>
    public string? HostDirectory(Guid hostId) => StateDirectory is null ? null : Path.Combine(StateDirectory, hostId.ToString());
}
