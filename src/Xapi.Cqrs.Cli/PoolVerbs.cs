using System.CommandLine;
using System.Text.Json;

namespace Xapi.Cqrs.Cli;

/// <summary>Hosts, tasks, messages, open operations and tokens.</summary>
internal static class PoolVerbs
{
    /// <summary>xapi's roles, as POST /api/admin/tokens takes them.</summary>
    public static readonly string[] Roles = ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator", "read-only"];

    public static void Add(CommandTree t)
    {
        t.Define("host-list", "List hosts: memory, CPUs, resident VMs", [], async (_, s, ct) =>
            s.Print(await s.Client.GetAsync<List<Host>>("api/hosts", ct), hosts => Rendering.Hosts(s.Console, hosts)));

        var hostArg = t.Named("host", "Host uuid or name label", "api/hosts");
        t.Define("host-show", "Show every field of a host", [hostArg], async (r, s, ct) =>
        {
            var id = await s.ResolveHostAsync(r.GetValue(hostArg)!, ct);
            s.Print(await s.Client.GetAsync<JsonElement>($"api/hosts/{id}", ct), h => Rendering.Record(s.Console, Program.AsObject(h)));
        });
        foreach (var (call, description) in new[] { ("enable", "Enable a host: new VMs may start on it"), ("disable", "Disable a host: no new VM starts on it") })
        {
            t.Define($"host-{call}", description, [hostArg], async (r, s, ct) =>
            {
                var given = r.GetValue(hostArg)!;
                var id = await s.ResolveHostAsync(given, ct);
                s.Print(await s.Client.PostAsync<Host>($"api/hosts/{id}/{call}", ct),
                    h => Rendering.Line(s.Console, $"host {Rendering.Named(h.NameLabel, h.Id)} is {(h.Enabled ? "enabled" : "disabled")}"));
            });
        }

        var taskArg = CommandTree.Uuid("task", "task");
        var watch = new Option<bool>("--watch") { Description = "Show the task's progress until it ends" };
        t.Define("task-show", "Show a task: status, progress, result or error", [taskArg, watch], async (r, s, ct) =>
        {
            var id = r.GetValue(taskArg)!;
            if (r.GetValue(watch))
            {
                try
                {
                    await TaskWatch.UntilDoneAsync(s, id, $"task {id}", ct);
                }
                catch (TaskFailedException)
                {
                    // shown below with the record; the exit code still says it failed
                    s.Print(await s.Client.GetAsync<JsonElement>($"api/tasks/{id}", ct), task => Rendering.Record(s.Console, Program.AsObject(task)));
                    throw;
                }
            }
            s.Print(await s.Client.GetAsync<JsonElement>($"api/tasks/{id}", ct), task => Rendering.Record(s.Console, Program.AsObject(task)));
        });

        var obj = new Option<string?>("--obj") { HelpName = "uuid|vm name", Description = "Only messages about this object (a uuid, or a VM's name label)" };
        t.Define("message-list", "xapi's messages (VM_STARTED, VM_SHUTDOWN, …), newest last", [obj], async (r, s, ct) =>
        {
            var path = "api/messages";
            if (r.GetValue(obj) is { } given)
            {
                path += $"?obj={Uri.EscapeDataString(await s.ResolveVmAsync(given, ct))}";
            }
            s.Print(await s.Client.GetAsync<List<Message>>(path, ct), list => Rendering.Messages(s.Console, list));
        });

        t.Define("operation-list", "Every open operation on any object, with its task and age", [], async (_, s, ct) =>
            s.Print(await s.Client.GetAsync<List<OpenOperation>>("api/admin/operations", ct), list => Rendering.Operations(s.Console, list)));

        var subject = new Argument<string>("subject") { Description = "Who the token stands for (recorded as the actor of every event it causes)" };
        var role = new Option<string>("--role")
        {
            HelpName = string.Join("|", Roles),
            Description = "The token's role (xapi's RBAC roles)",
            Required = true,
        };
        role.AcceptOnlyFromAmong(Roles);
        t.Define("token-create", "Create a bearer token (pool-admin only): the token is printed once, on its own line", [subject, role], async (r, s, ct) =>
        {
            var reply = await s.Client.PostAsync<TokenCreated>("api/admin/tokens", new TokenBody(r.GetValue(subject)!, r.GetValue(role)!), ct);
            s.Print(reply, created =>
            {
                s.Out.WriteLine(created.Token);
                s.Error.WriteLine($"a {created.Role} token for {created.Subject}: it is stored hashed and cannot be shown again");
            });
        });
    }
}
