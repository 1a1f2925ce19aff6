using System.Net;
using System.Text;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;
using Xapi.Cqrs.HostAgent.Hypervisor.Qemu;

namespace Xapi.Cqrs.Api.Tests.Qemu;

/// <summary>
/// GET /api/hosts/{id}/hypervisor/consoles/{vm}?tail=bytes: a VM's serial console on a qemu host, as text, through the
/// API (so a client need not share the host's filesystem). Refusals: a simulated host (501), a VM that never ran there
/// (404), a bad tail (400).
/// </summary>
[Collection(QemuApiCollection.Name)]
public sealed class ConsoleTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_qemu_VMs_console_reads_as_text_its_tail_as_asked_and_stays_after_the_VM_stops()
    {
        int? pid = null;
        string? socket = null;
        using var client = server.Client();
        try
        {
            // Given a qemu host and a small VM that has never run there
            var pool = await Pool.CreateAsync(client, ct);
            var host = await (await client.Post("/api/hosts", new
            {
                nameLabel = pool.Name("qemu"), memoryTotal = 2 * Pool.GiB, memoryOverhead = 0L, cpuCount = 1, hvmCapable = true,
                networks = new[] { pool.Network }, srs = new[] { pool.Sr }, hypervisor = "qemu",
            })).CreatedId();
            var vm = await pool.VmAsync(new VmSpec
            {
                VcpusMax = 1, VcpusAtStartup = 1, StaticMin = 128 * Pool.MiB, DynamicMin = 128 * Pool.MiB, DynamicMax = 128 * Pool.MiB,
                StaticMax = 128 * Pool.MiB, Vifs = 0,
            });
            var console = $"/api/hosts/{host}/hypervisor/consoles/{vm.Id}";

            // Then it has no console yet, and a tail out of range is refused
            await (await client.GetAsync(console, ct)).ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "console", vm.Id.ToString());
            await (await client.GetAsync(console + "?tail=0", ct)).ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "tail", "0");
            await (await client.GetAsync(console + "?tail=2000000", ct)).ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "tail", "2000000");

            // When it runs: its console is text (a firmware-only guest writes nothing to its serial line)
            (await (await client.PostAsync($"/api/vms/{vm.Id}/start", null, ct)).ShouldBeOkAsync()).GetProperty("residentOn").GetGuid().ShouldBe(host);
            var domain = (await pool.GetAsync($"/api/hosts/{host}/hypervisor/domains")).EnumerateArray().Single(d => d.GetProperty("vm").GetGuid() == vm.Id);
            (pid, socket) = (domain.GetProperty("pid").GetInt32(), domain.GetProperty("monitorSocket").GetString()!);
            var path = domain.GetProperty("consoleLog").GetString()!;
            var running = await client.GetAsync(console, ct);
            running.StatusCode.ShouldBe(HttpStatusCode.OK);
            running.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
            (await running.Content.ReadAsStringAsync(ct)).ShouldBe(await ReadSharedAsync(path));

            // When it stops, and its log holds lines (written here for QEMU, which is gone)
            (await (await client.PostAsync($"/api/vms/{vm.Id}/hard-shutdown", null, ct)).ShouldBeOkAsync()).GetProperty("powerState").GetString().ShouldBe("Halted");
            QemuProcess.IsOurs(pid.Value, socket).ShouldBeFalse();
            var lines = string.Concat(Enumerable.Range(1, 200).Select(i => $"line {i}\n"));
            await File.AppendAllTextAsync(path, lines, ct);
            var whole = await ReadSharedAsync(path);

            // Then the console is still there, all of it by default, and only its last bytes when asked
            (await client.GetStringAsync(console, ct)).ShouldBe(whole);
            (await client.GetStringAsync(console + "?tail=9", ct)).ShouldBe("line 200\n");
            var tail = await client.GetStringAsync(console + "?tail=100000", ct);
            tail.ShouldBe(whole, "a tail longer than the log is the whole log");
            Encoding.UTF8.GetByteCount(await client.GetStringAsync(console + "?tail=1000", ct)).ShouldBe(1000);
        }
        finally
        {
            if (pid is { } p && socket is not null)
            {
                QemuProcess.Kill(p, socket);
            }
        }
    }

    [Fact]
    public async Task A_simulated_hosts_console_is_not_implemented()
    {
        using var client = server.Client();
        var pool = await Pool.CreateAsync(client, ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync();
        await (await client.GetAsync($"/api/hosts/{host}/hypervisor/consoles/{vm.Id}", ct))
            .ShouldBeProblemWithCode(HttpStatusCode.NotImplemented, "NOT_IMPLEMENTED");
    }

    private static async Task<string> ReadSharedAsync(string path)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(file, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }
}
