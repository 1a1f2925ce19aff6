using Microsoft.Extensions.Logging.Abstractions;
using Shouldly;
using Xapi.Cqrs.Application.Hosts;

namespace Xapi.Cqrs.Application.Tests.Hosts;

/// <summary>The liveness rule by the monitor's own clock: a heartbeat that stops changing for LiveTimeout makes its host not live.</summary>
public sealed class HostLivenessTests
{
    private static readonly Guid HostId = Guid.NewGuid();
    private static readonly DateTimeOffset T0 = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private readonly HostLiveness liveness = new(null!, new LivenessSettings(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30)), TimeProvider.System,
        NullLogger<HostLiveness>.Instance);

    private static HostHeartbeat Beat(DateTimeOffset at) => new() { Id = HostId, At = at, Pid = 1 };

    [Fact]
    public void No_heartbeat_is_not_live() => liveness.Observe(HostId, null, T0).ShouldBeFalse();

    [Fact]
    public void A_fresh_heartbeat_is_live() => liveness.Observe(HostId, Beat(T0), T0.AddSeconds(1)).ShouldBeTrue();

    [Fact]
    public void A_heartbeat_older_than_the_timeout_when_first_seen_is_not_live() =>
        liveness.Observe(HostId, Beat(T0), T0.AddSeconds(31)).ShouldBeFalse();

    [Fact]
    public void A_heartbeat_that_stops_changing_is_not_live_past_the_timeout_and_live_again_when_it_changes()
    {
        liveness.Observe(HostId, Beat(T0), T0).ShouldBeTrue();
        liveness.Observe(HostId, Beat(T0), T0.AddSeconds(30)).ShouldBeTrue();
        liveness.Observe(HostId, Beat(T0), T0.AddSeconds(31)).ShouldBeFalse();
        liveness.Observe(HostId, Beat(T0.AddSeconds(40)), T0.AddSeconds(41)).ShouldBeTrue();
    }

    [Fact]
    public void A_changed_heartbeat_counts_from_when_it_was_seen_not_from_the_agents_clock()
    {
        liveness.Observe(HostId, Beat(T0), T0).ShouldBeTrue();
        // The agent's clock runs an hour behind: its beats still change, so the host stays live.
        liveness.Observe(HostId, Beat(T0.AddHours(-1)), T0.AddSeconds(20)).ShouldBeTrue();
        liveness.Observe(HostId, Beat(T0.AddHours(-1)), T0.AddSeconds(45)).ShouldBeTrue();
        liveness.Observe(HostId, Beat(T0.AddHours(-1)), T0.AddSeconds(51)).ShouldBeFalse();
    }
}
