using System.CommandLine;
using System.Text.Json;

namespace Xapi.Cqrs.Cli;

/// <summary>The VM class: list, show, and the lifecycle (API.md "VM lifecycle").</summary>
internal static class VmVerbs
{
    public static void Add(CommandTree t)
    {
        var powerState = new Option<string?>("--power-state") { HelpName = "state", Description = "Only VMs in this power state (Halted, Running, Paused, Suspended)" };
        powerState.CompletionSources.Add("Halted", "Running", "Paused", "Suspended");
        var residentOn = new Option<string?>("--resident-on") { HelpName = "host", Description = "Only VMs resident on this host (uuid or name)" };
        t.Define("vm-list", "List VMs", [powerState, residentOn], async (r, s, ct) =>
        {
            var query = new List<string>();
            if (r.GetValue(powerState) is { } state)
            {
                query.Add($"powerState={Uri.EscapeDataString(state)}");
            }
            if (r.GetValue(residentOn) is { } host)
            {
                query.Add($"residentOn={Uri.EscapeDataString(await s.ResolveHostAsync(host, ct))}");
            }
            var vms = await s.Client.GetAsync<List<Vm>>(query.Count == 0 ? "api/vms" : $"api/vms?{string.Join('&', query)}", ct);
            var hostNames = s.Json ? new Dictionary<string, string>() : await s.HostNamesAsync(ct);
            s.Print(vms, list => Rendering.Vms(s.Console, list, hostNames));
        });

        var vmArg = t.Named("vm", "VM uuid or name label", "api/vms");
        t.Define("vm-show", "Show every field of a VM", [vmArg], async (r, s, ct) =>
        {
            var id = await s.ResolveVmAsync(r.GetValue(vmArg)!, ct);
            s.Print(await s.Client.GetAsync<JsonElement>($"api/vms/{id}", ct), vm => Rendering.Record(s.Console, Program.AsObject(vm)));
        });

        var on = new Option<string?>("--on") { HelpName = "host", Description = "Start on this host only (uuid or name)" };
        on.CompletionSources.Add(context => Completions.NamesFromServer(t, context.ParseResult, "api/hosts"));
        var paused = new Option<bool>("--paused") { Description = "Leave the VM paused after it is built" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Show the decision a start would take now (host, candidates, refusals); nothing is started or written" };
        var watch = CommandTree.Watch();
        t.Define("vm-start", "Start a VM and wait until it is running (or paused)", [vmArg, on, paused, dryRun, watch], async (r, s, ct) =>
        {
            var given = r.GetValue(vmArg)!;
            var id = await s.ResolveVmAsync(given, ct);
            var host = r.GetValue(on) is { } h ? await s.ResolveHostAsync(h, ct) : null;
            var (path, body) = host is null
                ? ($"api/vms/{id}/start", (object)new StartBody(r.GetValue(paused)))
                : ($"api/vms/{id}/start-on", new StartOnBody(host, r.GetValue(paused)));
            if (r.GetValue(dryRun))
            {
                if (r.GetValue(watch))
                {
                    throw new CliException(ExitCodes.Usage, "--dry-run starts nothing, so there is nothing to --watch");
                }
                var preview = await s.Client.PostAsync<Preview>($"{path}?dryRun=true", body, ct);
                s.Print(preview, p => Rendering.Preview(s.Console, Rendering.Named(given, id), p));
                return;
            }
            if (r.GetValue(watch))
            {
                await WatchAsync(s, path, body, $"start {given}", id, ct);
                return;
            }
            await PrintPowerStateAsync(s, await s.Client.PostAsync<Vm>(path, body, ct), ct);
        });

        // The VM calls without a body that answer the VM record once done (API.md "VM lifecycle").
        void DefineVmCall(string name, string description, string call, Option<bool>? force = null, string? forcedCall = null)
        {
            var watchCall = CommandTree.Watch();
            t.Define(name, description, force is null ? [vmArg, watchCall] : [vmArg, force, watchCall], async (r, s, ct) =>
            {
                var given = r.GetValue(vmArg)!;
                var id = await s.ResolveVmAsync(given, ct);
                var path = $"api/vms/{id}/{(force is not null && r.GetValue(force) ? forcedCall : call)}";
                if (r.GetValue(watchCall))
                {
                    await WatchAsync(s, path, null, $"{name["vm-".Length..]} {given}", id, ct);
                    return;
                }
                await PrintPowerStateAsync(s, await s.Client.PostAsync<Vm>(path, ct), ct);
            });
        }

        DefineVmCall("vm-shutdown", "Shut a VM down: cleanly (its guest is asked to), or with --force hard (its domain is stopped)", "clean-shutdown",
            new Option<bool>("--force") { Description = "Hard shutdown: stop the domain without asking the guest" }, "hard-shutdown");
        DefineVmCall("vm-reboot", "Reboot a VM: cleanly (its guest is asked to), or with --force hard (its domain is restarted)", "clean-reboot",
            new Option<bool>("--force") { Description = "Hard reboot: restart the domain without asking the guest" }, "hard-reboot");
        DefineVmCall("vm-pause", "Pause a running VM", "pause");
        DefineVmCall("vm-unpause", "Unpause a paused VM", "unpause");

        t.Define("vm-destroy", "Destroy a halted or suspended VM with its VBDs and VIFs (its history stays)", [vmArg], async (r, s, ct) =>
        {
            var given = r.GetValue(vmArg)!;
            var id = await s.ResolveVmAsync(given, ct);
            s.Print(await s.Client.PostAsync($"api/vms/{id}/destroy", ct), _ => Rendering.Line(s.Console, $"VM {Rendering.Named(given, id)} is destroyed"));
        });

        var consoleHost = new Option<string?>("--host") { HelpName = "host", Description = "The qemu host whose console log to read (default: the host the VM runs on)" };
        consoleHost.CompletionSources.Add(context => Completions.NamesFromServer(t, context.ParseResult, "api/hosts"));
        var tail = new Option<int?>("--tail") { HelpName = "bytes", Description = "Only the log's last bytes (default and at most: the server's, 64 KiB and 1 MiB)" };
        t.Define("vm-console", "A VM's serial console log on a qemu host, as its guest wrote it", [vmArg, consoleHost, tail], async (r, s, ct) =>
        {
            var given = r.GetValue(vmArg)!;
            var id = await s.ResolveVmAsync(given, ct);
            var host = r.GetValue(consoleHost) is { } h
                ? await s.ResolveHostAsync(h, ct)
                : (await s.Client.GetAsync<Vm>($"api/vms/{id}", ct)).Value.ResidentOn
                    ?? throw new CliException(ExitCodes.Usage, $"VM {Rendering.Named(given, id)} runs on no host: name the host of its console with --host");
            var query = r.GetValue(tail) is { } bytes ? $"?tail={bytes}" : "";
            var text = await s.Client.GetTextAsync($"api/hosts/{host}/hypervisor/consoles/{id}{query}", ct);
            await s.Out.WriteAsync(text);
            await s.Out.FlushAsync(ct);
        });

        t.Define("vm-metrics", "A VM's metrics (VM_metrics): vCPUs, memory actual, start time, state", [vmArg], async (r, s, ct) =>
        {
            var id = await s.ResolveVmAsync(r.GetValue(vmArg)!, ct);
            s.Print(await s.Client.GetAsync<JsonElement>($"api/vms/{id}/metrics", ct), m => Rendering.Record(s.Console, Program.AsObject(m)));
        });
    }

    /// <summary>--watch: the call with ?async=true, its task followed to the end, then the VM as it is now.</summary>
    private static async Task WatchAsync(Session s, string path, object? body, string description, string vmId, CancellationToken ct)
    {
        var accepted = await s.Client.PostAcceptedAsync($"{path}?async=true", body, ct);
        await TaskWatch.UntilDoneAsync(s, accepted.Value.TaskId, description, ct);
        await PrintPowerStateAsync(s, await s.Client.GetAsync<Vm>($"api/vms/{vmId}", ct), ct);
    }

    /// <summary>"web01 (uuid) is Running on host-a (uuid)": the VM record a lifecycle call answered, with its host's name.</summary>
    public static async Task PrintPowerStateAsync(Session s, Reply<Vm> reply, CancellationToken ct)
    {
        var hostName = s.Json || reply.Value.ResidentOn is null ? null : await s.TryHostNameAsync(reply.Value.ResidentOn, ct);
        s.Print(reply, vm => Rendering.PowerState(s.Console, vm, hostName));
    }
}
