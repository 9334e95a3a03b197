package engine

// qa is one turn of a scripted conversation: the user's question and the
// answer the LLM gave to it (sent back inline with the next question).
type qa struct{ Q, A string }

// k8sConversation is a realistic twelve-turn conversation about Kubernetes
// deployments. Consecutive questions share only a few words, as real ones do.
var k8sConversation = []qa{
	{"How do I create a Kubernetes deployment for my web app?",
		"Write a Deployment manifest with apiVersion apps/v1, a pod template with your container image, and apply it with kubectl apply -f deployment.yaml."},
	{"What does the replicas field in the deployment spec control?",
		"replicas sets how many identical pods the Deployment keeps running; the ReplicaSet controller creates or deletes pods to match it."},
	{"How can I scale the deployment to five replicas with kubectl?",
		"Run kubectl scale deployment web --replicas=5, or edit replicas in the manifest and kubectl apply it again."},
	{"Some pods of the scaled deployment are stuck in CrashLoopBackOff. How do I debug those pods?",
		"Use kubectl describe pod to see events and kubectl logs --previous to read the output of the crashed container in the pod."},
	{"The kubectl logs show the container exits because a config file is missing. How do I mount it?",
		"Put the file in a ConfigMap and mount it as a volume in the pod template of the deployment; the container then sees it as a file."},
	{"After changing the pod template, how does the rolling update of the deployment work?",
		"The Deployment creates a new ReplicaSet and shifts pods gradually, bounded by maxSurge and maxUnavailable, until the rollout finishes."},
	{"How do I roll back a rollout that went wrong?",
		"kubectl rollout undo deployment web returns to the previous revision; kubectl rollout history lists the revisions."},
	{"How do I expose the deployment to other pods with a service?",
		"Create a Service whose selector matches the pod labels; kubectl expose deployment web --port=80 does it for you with a ClusterIP."},
	{"What is the difference between a ClusterIP service and a LoadBalancer service?",
		"A ClusterIP service is reachable only inside the cluster; a LoadBalancer service also asks the cloud provider for an external load balancer."},
	{"Do readiness probes stop the service from sending traffic to pods that are not ready during a rollout?",
		"Yes. Pods failing their readiness probe are removed from the service endpoints, so the rollout only routes traffic to ready pods."},
	{"Should I set resource requests and limits on the containers in those pods?",
		"Yes: requests let the scheduler place pods on nodes with capacity and limits cap the container; the deployment spec sets both per container."},
	{"How do I watch the rollout status of the deployment with kubectl?",
		"kubectl rollout status deployment web waits until the new pods are ready; kubectl get pods -w streams pod changes."},
}

// breadConversation is an abrupt switch to an unrelated topic.
var breadConversation = []qa{
	{"Completely different question: what flour is best for baking sourdough bread?",
		"Use a strong bread flour with 12 to 13 percent protein, and mix in some whole wheat flour for flavour and a lively sourdough starter."},
	{"How long should the sourdough starter ferment before I mix the bread dough?",
		"Mix the dough when the starter has doubled and smells tangy, usually four to eight hours after feeding the starter."},
	{"What oven temperature gives the sourdough bread a crispy crust?",
		"Bake the bread at 250 C in a preheated Dutch oven with the lid on for 20 minutes, then uncover it so the crust browns."},
	{"How do I shape the dough into a boule before the final proof?",
		"Pre-shape the dough into a round, rest it, then tighten the boule with a bench scraper and proof it seam side up in a floured basket."},
	{"Why is my sourdough loaf dense and flat after baking?",
		"A dense, flat loaf usually means an underproofed dough or a weak sourdough starter; give the dough a longer bulk ferment."},
	{"Can I keep the sourdough starter in the fridge between bakes?",
		"Yes, a starter keeps in the fridge for a week or two; feed it and let it become active at room temperature before baking."},
}

// postgresConversation is a second on-topic conversation (database tuning),
// used to check that the drift calibration is not fitted to one script.
var postgresConversation = []qa{
	{"Our PostgreSQL query for monthly orders got slow, where do I start?",
		"Run EXPLAIN ANALYZE on the query to see the plan, the row estimates and where the time goes."},
	{"EXPLAIN ANALYZE shows a sequential scan on the orders table. Is that bad?",
		"A sequential scan on a large orders table is slow when the query only needs a few rows; an index on the filtered column usually helps."},
	{"Which index should I create for a filter on customer_id and created_at?",
		"Create a composite btree index on (customer_id, created_at) so the planner can use both columns of the filter."},
	{"After creating the index the planner still picks the sequential scan. Why?",
		"The statistics may be stale: run ANALYZE on the table so the planner sees the new distribution, and check the cost settings."},
	{"How often does autovacuum run ANALYZE on a busy table?",
		"Autovacuum analyzes a table after autovacuum_analyze_scale_factor of its rows change; lower the factor for big, busy tables."},
	{"Could table bloat from dead rows also slow the orders query?",
		"Yes, dead rows bloat the table and its indexes; VACUUM reclaims them and pg_stat_user_tables shows the dead tuple counts."},
	{"Is it worth partitioning the orders table by month?",
		"Partitioning orders by month lets the planner prune partitions for monthly queries and makes dropping old data cheap."},
	{"How do I check if partition pruning happens in the query plan?",
		"EXPLAIN shows only the partitions that are scanned; pruned partitions do not appear in the plan at all."},
	{"Should I raise work_mem for the sort in the monthly report query?",
		"Raise work_mem for that session if the plan shows an external merge sort on disk, but keep the global value modest."},
	{"Can connection pooling with PgBouncer help the database under load?",
		"PgBouncer keeps a small pool of server connections, which lowers memory per connection and helps PostgreSQL under many clients."},
}

// marathonConversation is an unrelated topic for the second switch.
var marathonConversation = []qa{
	{"I want to run my first marathon next spring. How many weeks of training do I need?",
		"Most first marathon plans last 16 to 20 weeks of training, building weekly mileage slowly with one long run each week."},
	{"How long should my longest training run be before the marathon?",
		"Build the long run to about 30 to 32 kilometres three weeks before the marathon, then taper."},
	{"What should I eat before a long run?",
		"Eat an easy carbohydrate breakfast two to three hours before the long run and practise your race-day fuel."},
	{"How do I avoid knee pain when my running mileage goes up?",
		"Increase mileage by at most ten percent a week, add strength work for hips and knees, and replace worn running shoes."},
}
