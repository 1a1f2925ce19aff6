using Shouldly;
using Xapi.Cqrs.HostAgent.Hypervisor.Simulated;
using Xunit;

namespace Xapi.Cqrs.HostAgent.Tests.Hypervisor;

public sealed class XenstoreTests
{
    [Fact]
    public void Write_creates_ancestors_with_empty_values_and_lists_children_in_creation_order()
    {
        var xs = new Xenstore();
        xs.Write("/local/domain/3/device/vif/1/mac", "aa");
        xs.Write("/local/domain/3/device/vif/0/mac", "bb");

        xs.Read("/local/domain/3/device").ShouldBe("");
        xs.Read("/local/domain/3/device/vif/1/mac").ShouldBe("aa");
        xs.Directory("/local/domain/3/device/vif").ShouldBe(["1", "0"]);
        xs.Read("/local/domain/4").ShouldBeNull();
        xs.Directory("/nowhere").ShouldBeEmpty();
    }

    [Fact]
    public void ReadTree_returns_a_detached_deep_copy_with_full_paths()
    {
        var xs = new Xenstore();
        xs.Write("/vm/a/name", "one");
        xs.Write("/vm/a/domains/1", "/local/domain/1");

        var tree = xs.ReadTree("/vm/a")!;
        xs.Write("/vm/a/name", "two");
        xs.Remove("/vm/a/domains");

        tree.ValueAt("name").ShouldBe("one");
        tree.Find("domains/1")!.Path.ShouldBe("/vm/a/domains/1");
        tree.Find("domains/1")!.Value.ShouldBe("/local/domain/1");
        xs.ReadTree("/")!.Path.ShouldBe("/");
        xs.ReadTree("/missing").ShouldBeNull();
    }

    [Fact]
    public void Remove_takes_the_whole_subtree_and_reports_whether_anything_was_there()
    {
        var xs = new Xenstore();
        xs.Write("/a/b/c", "1");
        xs.Write("/a/d", "2");

        xs.Remove("/a/b").ShouldBeTrue();
        xs.Remove("/a/b").ShouldBeFalse();
        xs.Read("/a/b/c").ShouldBeNull();
        xs.Read("/a/d").ShouldBe("2");
    }

    [Fact]
    public void Watches_fire_for_changes_below_and_removal_above_but_not_for_siblings()
    {
        var xs = new Xenstore();
        var seen = new List<string>();
        using var watch = xs.Watch("/backend/vbd/1/51712", seen.Add);

        xs.Write("/backend/vbd/1/51728/state", "1");
        seen.ShouldBeEmpty();
        xs.Write("/backend/vbd/1/51712/state", "1");
        xs.Remove("/backend/vbd/1");
        seen.ShouldBe(["/backend/vbd/1/51712/state", "/backend/vbd/1"]);

        watch.Dispose();
        xs.Write("/backend/vbd/1/51712/state", "4");
        seen.Count.ShouldBe(2);
    }

    [Fact]
    public void A_transaction_fires_watches_once_after_every_change_is_visible()
    {
        var xs = new Xenstore();
        var observed = new List<(string?, string?)>();
        using var watch = xs.Watch("/dev", _ => observed.Add((xs.Read("/dev/a"), xs.Read("/dev/b"))));

        xs.Transaction(() =>
        {
            xs.Write("/dev/a", "1");
            xs.Write("/dev/b", "2");
        });

        observed.ShouldBe([("1", "2")]);
    }

    [Theory]
    [InlineData("relative/path")]
    [InlineData("/double//slash")]
    [InlineData("/with space")]
    public void Malformed_paths_are_rejected(string path)
    {
        var xs = new Xenstore();
        Should.Throw<ArgumentException>(() => xs.Write(path, "x"));
    }
}
