using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Vms;

/// <summary>What the (simulated) hypervisor holds after a start (XAPI.md §6.6, §6.7), and the host-side history.</summary>
public sealed class XenstoreTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Started_hvm_vm_has_its_domain_devices_console_and_ordered_history()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync(new VmSpec { DomainType = "hvm", Disk = true, Cd = true, Vifs = 2 });
        var correlation = "corr-" + Guid.NewGuid().ToString("N");

        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/vms/{vm.Id}/start-on") { Content = JsonContent.Create(new { host }) };
        request.Headers.Add("X-Correlation-Id", correlation);
        var started = await (await client.SendAsync(request, ct)).ShouldBeOkAsync();
        started.GetProperty("powerState").GetString().ShouldBe("Running");
        var domid = started.GetProperty("domid").GetInt64();
        var record = await pool.VmRecordAsync(vm.Id);

        // The domain's own subtree.
        var dom = Flatten(await pool.GetAsync($"/api/hosts/{host}/hypervisor/xenstore?path=/local/domain/{domid}"));
        var d = $"/local/domain/{domid}";
        dom.ShouldContainKey($"{d}/name");
        dom[$"{d}/vm"].ShouldBe($"/vm/{vm.Id}");
        dom.ShouldNotContainKey($"{d}/action-request");
        dom[$"{d}/memory/static-max"].ShouldBe((record.GetProperty("memoryStaticMax").GetInt64() / 1024).ToString(System.Globalization.CultureInfo.InvariantCulture));
        long.Parse(dom[$"{d}/memory/target"], System.Globalization.CultureInfo.InvariantCulture).ShouldBeGreaterThan(0);
        long.Parse(dom[$"{d}/memory/target"], System.Globalization.CultureInfo.InvariantCulture).ShouldBeLessThanOrEqualTo(record.GetProperty("memoryStaticMax").GetInt64() / 1024);
        dom[$"{d}/cpu/0/availability"].ShouldBe("online");
        dom.ShouldContainKey($"{d}/console/vnc-port");
        foreach (var n in new[] { 0, 1 })
        {
            dom.ShouldContainKey($"{d}/device/vif/{n}/state");
            dom.ShouldContainKey($"{d}/device/vif/{n}/mac");
            dom[$"{d}/device/vif/{n}/mac"].ShouldNotBeNullOrEmpty();
        }

        // VIF backend.
        var vifBackend = Flatten(await pool.GetAsync($"/api/hosts/{host}/hypervisor/xenstore?path=/local/domain/0/backend/vif/{domid}/0"));
        vifBackend[$"/local/domain/0/backend/vif/{domid}/0/online"].ShouldBe("1");
        vifBackend[$"/local/domain/0/backend/vif/{domid}/0/hotplug-status"].ShouldBe("connected");

        // VBD backends (any kind): one "w" (the disk), one "r" (the CD).
        var backends = Flatten(await pool.GetAsync($"/api/hosts/{host}/hypervisor/xenstore?path=/local/domain/0/backend"));
        var modes = backends.Where(kv => kv.Key.EndsWith("/mode", StringComparison.Ordinal) && kv.Key.Contains($"/{domid}/", StringComparison.Ordinal)
                && !kv.Key.Contains("/backend/vif/", StringComparison.Ordinal))
            .Select(kv => kv.Value).ToList();
        modes.ShouldContain("w");
        modes.ShouldContain("r");

        // The console answers RFB.
        var port = int.Parse(dom[$"{d}/console/vnc-port"], System.Globalization.CultureInfo.InvariantCulture);
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync("127.0.0.1", port, ct);
            var stream = tcp.GetStream();
            var buffer = new byte[12];
            var read = 0;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            while (read < buffer.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), timeout.Token);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            Encoding.ASCII.GetString(buffer, 0, read).ShouldBe("RFB 003.008\n");
        }

        // History: host-side steps in order, by the host agent, under the caller's correlation id.
        var history = (await pool.GetAsync($"/api/vms/{vm.Id}/history")).EnumerateArray().ToList();
        int First(string type) => history.FindIndex(e => e.GetProperty("type").GetString() == type);
        string[] order = ["domain_created", "domain_built", "vbd_plugged", "vif_plugged", "device_model_created", "resident_on_set"];
        foreach (var type in order)
        {
            First(type).ShouldBeGreaterThanOrEqualTo(0, $"{type} missing from history");
        }

        for (var i = 1; i < order.Length; i++)
        {
            First(order[i - 1]).ShouldBeLessThan(First(order[i]), $"{order[i - 1]} before {order[i]}");
        }

        var vbdPlugs = history.Where(e => e.GetProperty("type").GetString() == "vbd_plugged").ToList();
        vbdPlugs.Count.ShouldBe(2);
        vbdPlugs[0].GetProperty("data").GetProperty("vbdId").GetGuid().ShouldBe(vm.Vbds[0]); // the RW disk
        vbdPlugs[1].GetProperty("data").GetProperty("vbdId").GetGuid().ShouldBe(vm.Vbds[1]); // the RO CD
        history.Count(e => e.GetProperty("type").GetString() == "vif_plugged").ShouldBe(2);

        var agent = $"host-agent:{pool.HostNames[host]}";
        foreach (var e in history.Where(e => order.Contains(e.GetProperty("type").GetString())))
        {
            e.GetProperty("actor").GetString().ShouldBe(agent, e.GetProperty("type").GetString());
            e.GetProperty("correlationId").GetString().ShouldBe(correlation, e.GetProperty("type").GetString());
        }

        history.Single(e => e.GetProperty("type").GetString() == "task_created").GetProperty("correlationId").GetString().ShouldBe(correlation);
    }

    private static Dictionary<string, string> Flatten(JsonElement node)
    {
        var all = new Dictionary<string, string>();
        void Walk(JsonElement n)
        {
            all[n.GetProperty("path").GetString()!] = n.GetProperty("value").GetString() ?? "";
            foreach (var child in n.GetProperty("children").EnumerateArray())
            {
                Walk(child);
            }
        }

        Walk(node);
        return all;
    }
}
