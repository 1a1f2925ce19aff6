namespace Xapi.Cqrs.Application.Hosts;

/// <summary>
/// The last heartbeat of an external host's agent: one document per host, upserted every Xapi:Agent:Heartbeat by the
/// agent process (not an event: it is frequent and carries no decision). The service's <see cref="HostLiveness"/> reads it.
/// </summary>
public sealed record HostHeartbeat
{
    /// <summary>The host's id.</summary>
    public Guid Id { get; init; }

    /// <summary>When the agent wrote it, by the agent's clock.</summary>
    public DateTimeOffset At { get; init; }

    /// <summary>The agent process's pid.</summary>
    public int Pid { get; init; }

    /// <summary>The agent process's machine.</summary>
    public string Machine { get; init; } = "";

    /// <summary>When the agent process started: a restart shows as a new value.</summary>
    public DateTimeOffset StartedAt { get; init; }
}
