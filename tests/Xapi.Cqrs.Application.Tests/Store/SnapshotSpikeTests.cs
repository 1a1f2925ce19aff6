using System.Collections.Immutable;
using Marten;
using Shouldly;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Store;

namespace Xapi.Cqrs.Application.Tests.Store;

public sealed class SnapshotSpikeTests
{
    [Fact]
    public async Task Inline_snapshot_of_a_domain_state_follows_its_stream()
    {
        using var store = new DocumentStore(StoreSetup.Options(new StoreSettings(TestDatabase.ConnectionString, TestDatabase.NewSchema(nameof(SnapshotSpikeTests)))));
        var id = Guid.NewGuid();
        var task = Guid.NewGuid();
        await using (var s = store.LightweightSession())
        {
            s.Events.StartStream<Vm>(id, new VmCreated(id, "vm", 2, 2, 1, 2, 3, 4, DomainType.Hvm, "", 1.0, "restart", null, false, false, false, false,
                ImmutableDictionary<string, string>.Empty, "", ImmutableDictionary<string, string>.Empty, ImmutableDictionary<string, string>.Empty,
                ImmutableDictionary<string, string>.Empty, "", "", 37, DateTimeOffset.UtcNow));
            await s.SaveChangesAsync(TestContext.Current.CancellationToken);
        }

        await using (var s = store.LightweightSession())
        {
            var stream = await s.Events.FetchForWriting<Vm>(id, TestContext.Current.CancellationToken);
            stream.Aggregate!.NameLabel.ShouldBe("vm");
            stream.AppendOne(new OperationAdded(task, "start", "VM"));
            await s.SaveChangesAsync(TestContext.Current.CancellationToken);
        }

        await using var q = store.QuerySession();
        var vm = await q.LoadAsync<Vm>(id, TestContext.Current.CancellationToken);
        vm.ShouldNotBeNull();
        vm.CurrentOperations[task].ShouldBe(VmOperation.Start);
        vm.Version.ShouldBe(2);
    }
}
