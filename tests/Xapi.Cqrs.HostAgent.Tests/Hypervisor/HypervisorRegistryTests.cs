using Shouldly;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Xapi.Cqrs.HostAgent.Hypervisor.Simulated;
using Xunit;

namespace Xapi.Cqrs.HostAgent.Tests.Hypervisor;

public sealed class HypervisorRegistryTests
{
    private const long GiB = 1024L * 1024 * 1024;

    [Fact]
    public void The_same_host_gets_the_same_simulated_instance_and_others_get_their_own()
    {
        using var registry = new HypervisorRegistry();
        var hostA = Guid.NewGuid();

        var first = registry.GetOrCreateSimulated(hostA, 16 * GiB, GiB, TimeProvider.System);
        var again = registry.GetOrCreateSimulated(hostA, 64 * GiB, 0, TimeProvider.System);
        var other = registry.GetOrCreateSimulated(Guid.NewGuid(), 8 * GiB, GiB, TimeProvider.System);

        again.ShouldBeSameAs(first);
        again.MemoryTotal.ShouldBe(16 * GiB);
        other.ShouldNotBeSameAs(first);
        first.Kind.ShouldBe("simulated");
        first.HostId.ShouldBe(hostA);
        registry.TryGet(hostA, out var found).ShouldBeTrue();
        found.ShouldBeSameAs(first);
        registry.TryGet(Guid.NewGuid(), out _).ShouldBeFalse();
        registry.All.Count.ShouldBe(2);
    }

    [Fact]
    public void Concurrent_callers_share_one_instance()
    {
        using var registry = new HypervisorRegistry();
        var host = Guid.NewGuid();

        var instances = Enumerable.Range(0, 16).AsParallel()
            .Select(_ => registry.GetOrCreateSimulated(host, 4 * GiB, 0, TimeProvider.System))
            .ToList();

        instances.Distinct().Count().ShouldBe(1);
    }

    [Fact]
    public async Task Register_refuses_a_second_hypervisor_for_a_host_and_remove_disposes()
    {
        using var registry = new HypervisorRegistry();
        var host = Guid.NewGuid();
        var sim = registry.GetOrCreateSimulated(host, 4 * GiB, 0, TimeProvider.System);

        Should.Throw<InvalidOperationException>(() => registry.Register(new SimulatedXenHost(host, GiB)));
        registry.Remove(host).ShouldBeTrue();
        registry.Remove(host).ShouldBeFalse();
        await Should.ThrowAsync<ObjectDisposedException>(() => sim.BuildDomainAsync(Guid.NewGuid(), TestContext.Current.CancellationToken));
    }
}
